// The side channel of querycomb's Node hooks (querycomb_node.js, querycomb_js_runners.js):
// one JSON line per phase boundary appended to the file named by QUERYCOMB_TESTS, as
// crates/cli/src/run/attribution.rs reads it. Best effort: a test never fails because of it.
'use strict';

const fs = require('node:fs');

const file = process.env.QUERYCOMB_TESTS;
let fd = null;

function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function send(test, phase, at) {
  if (!file) return;
  const line = JSON.stringify({
    pid: process.pid,
    test,
    phase,
    at,
    time_us: nowUs(),
    // CLOCK_MONOTONIC, the proxy's own clock: exact ordering against its statements.
    mono_us: Number(process.hrtime.bigint() / 1000n),
  });
  try {
    if (fd === null) fd = fs.openSync(file, 'a');
    // One write per line: O_APPEND keeps the lines of parallel workers whole.
    fs.writeSync(fd, `${line}\n`);
  } catch (_) {
    // best effort
  }
}

// Runners whose events nest (Mocha's beforeEach runs inside its test's begin/end): the
// phases open now, innermost last. Ending one reopens the one around it, so the statements
// after a hook are its test's again.
const open = [];

function begin(test, phase) {
  if (open.length) send(open[open.length - 1].test, open[open.length - 1].phase, 'end');
  open.push({ test, phase });
  send(test, phase, 'start');
}

function finish(test, phase) {
  const at = open.findIndex((p) => p.test === test && p.phase === phase);
  if (at < 0) return;
  const innermost = at === open.length - 1;
  open.splice(at, 1);
  if (!innermost) return;
  send(test, phase, 'end');
  if (open.length) send(open[open.length - 1].test, open[open.length - 1].phase, 'start');
}

// Only one phase is open (runners that report transitions, not nesting: Vitest).
function only(test, phase) {
  while (open.length) {
    const last = open[open.length - 1];
    finish(last.test, last.phase);
  }
  if (test !== null) begin(test, phase);
}

module.exports = { file, send, begin, finish, only };
