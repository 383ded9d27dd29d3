// Stand-in with JUnit's name and the signatures QuerycombListener uses; compile-time only.
package org.junit.platform.launcher;

import org.junit.platform.engine.TestExecutionResult;

public interface TestExecutionListener {
    default void executionStarted(TestIdentifier id) {}

    default void executionFinished(TestIdentifier id, TestExecutionResult result) {}
}
