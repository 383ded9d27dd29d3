// querycomb's JUnit Platform listener (JUnit 5), found by the Platform's ServiceLoader on
// the classpath of every test JVM: `querycomb run` puts its jar there as a Java agent
// (JAVA_TOOL_OPTIONS=-javaagent:…), which adds the jar to the system class path; the agent
// itself does nothing. It tells querycomb when each test and each test class start and end,
// as one JSON line per boundary appended to the file named by QUERYCOMB_TESTS (see
// crates/cli/src/run/attribution.rs). It never touches the database or a test's result.
//
// Compiled against the small stand-ins in stubs/ (same names and signatures as JUnit's), so
// that building it needs only a JDK; at run time JUnit's own classes are used.
package querycomb;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

public class QuerycombListener implements TestExecutionListener {
    private static final String PATH = System.getenv("QUERYCOMB_TESTS");
    private static FileOutputStream out;
    private static String[] open;

    // A class's @BeforeAll runs between its start and its first test's: its setup; each
    // test with its @BeforeEach/@AfterEach is the test; after the last, its @AfterAll.
    @Override
    public void executionStarted(TestIdentifier id) {
        String name = name(id.getUniqueId());
        if (name != null) only(name, id.isTest() ? "call" : "setup");
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        String name = name(id.getUniqueId());
        if (name == null) return;
        if (id.isTest()) {
            String owner = name.contains("#") ? name.substring(0, name.indexOf('#')) : null;
            only(owner, "teardown");
        } else {
            only(null, null);
        }
    }

    /** `shop.BooksTest#nPlusOne()` from `[engine:junit-jupiter]/[class:shop.BooksTest]/[method:nPlusOne()]`. */
    static String name(String uniqueId) {
        String type = null;
        String method = null;
        for (String segment : uniqueId.split("/")) {
            if (segment.startsWith("[class:")) type = segment.substring(7, segment.length() - 1);
            else if (segment.startsWith("[nested-class:")) type = type + "$" + segment.substring(14, segment.length() - 1);
            else if (segment.contains("method:")) method = segment.substring(segment.indexOf(':') + 1, segment.length() - 1);
        }
        if (type == null) return null;
        return method == null ? type : type + "#" + method;
    }

    private static synchronized void only(String test, String phase) {
        if (open != null) send(open[0], open[1], "end");
        open = test == null ? null : new String[] {test, phase};
        if (test != null) send(test, phase, "start");
    }

    private static void send(String test, String phase, String at) {
        if (PATH == null) return;
        Instant now = Instant.now();
        long timeUs = now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
        String line = "{\"pid\":" + ProcessHandle.current().pid()
                + ",\"test\":\"" + escape(test) + "\",\"phase\":\"" + phase
                + "\",\"at\":\"" + at + "\",\"time_us\":" + timeUs
                // System.nanoTime is CLOCK_MONOTONIC on Linux: the proxy's own clock.
                + ",\"mono_us\":" + System.nanoTime() / 1_000 + "}\n";
        try {
            if (out == null) out = new FileOutputStream(PATH, true);
            // One write per line: O_APPEND keeps the lines of parallel JVMs whole.
            out.write(line.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            // best effort: a test never fails because of querycomb
        }
    }

    private static String escape(String text) {
        StringBuilder b = new StringBuilder();
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }
}
