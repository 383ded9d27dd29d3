// Stand-in with JUnit's name; compile-time only.
package org.junit.platform.engine;

public class TestExecutionResult {}
