// Stand-in with JUnit's name and the signatures QuerycombListener uses; compile-time only.
package org.junit.platform.launcher;

public final class TestIdentifier {
    public String getUniqueId() {
        return "";
    }

    public boolean isTest() {
        return false;
    }
}
