// The Java agent whose only purpose is to put querycomb's JUnit listener jar on the system
// class path of every JVM (see QuerycombListener.java). It does nothing.
package querycomb;

public final class QuerycombAgent {
    private QuerycombAgent() {}

    public static void premain(String args) {}
}
