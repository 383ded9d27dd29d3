// querycomb's hook for node's built-in test runner (node:test), preloaded by `querycomb run`
// through NODE_OPTIONS=--require; it also loads the hooks of Jest, Mocha and Vitest
// (querycomb_js_runners.js).
//
// It tells querycomb when each test (call) and each hook (setup: before/beforeEach,
// teardown: after/afterEach) starts and ends, so that every SQL statement the proxy sees
// can be attributed to the test and phase that ran it. It only appends one JSON line per
// boundary to the file named by QUERYCOMB_TESTS; it never touches the database, and the
// test functions it wraps run unchanged (same `this`, arguments, result and errors).
'use strict';

const path = require('node:path');
const Module = require('node:module');
const { file, send } = require('./querycomb_channel.js');

// Suite names (`describe`) around the code that registers a test, while it registers.
const suites = [];

function scriptName() {
  const main = process.argv[1];
  return main ? path.relative(process.cwd(), main) : '<script>';
}

function qualified(name) {
  return suites.length ? `${suites.join(' > ')} > ${name}` : name;
}

function lastFunctionIndex(args) {
  for (let i = args.length - 1; i >= 0; i -= 1) {
    if (typeof args[i] === 'function') return i;
  }
  return -1;
}

// Wraps `fn` so that its run is reported as `phase` of the test `idOf(context)`, keeping
// its arity (node:test passes a `done` callback to functions that take two arguments).
function reported(fn, phase, idOf) {
  if (fn.length >= 2) {
    return function withDone(t, done) {
      const id = idOf(t);
      send(id, phase, 'start');
      return fn.call(this, t, (err) => {
        send(id, phase, 'end');
        done(err);
      });
    };
  }
  return async function withPromise(t) {
    const id = idOf(t);
    send(id, phase, 'start');
    try {
      return await fn.call(this, t);
    } finally {
      send(id, phase, 'end');
    }
  };
}

function wrapTest(original) {
  return function test(...args) {
    const at = lastFunctionIndex(args);
    if (at >= 0) {
      const named = typeof args[0] === 'string' ? args[0] : args[at].name || '<anonymous>';
      const id = qualified(named);
      args[at] = reported(args[at], 'call', () => id);
    }
    return original.apply(this, args);
  };
}

function wrapSuite(original) {
  return function describe(...args) {
    const at = lastFunctionIndex(args);
    if (at >= 0) {
      const name = typeof args[0] === 'string' ? args[0] : args[at].name || '<anonymous>';
      const body = args[at];
      args[at] = function suite(...inner) {
        suites.push(name);
        try {
          return body.apply(this, inner);
        } finally {
          suites.pop();
        }
      };
    }
    return original.apply(this, args);
  };
}

// before/after run once per suite (named by the suite, or the test file at top level);
// beforeEach/afterEach once per test (named by that test).
function wrapHook(original, phase, perTest) {
  return function hook(...args) {
    const at = lastFunctionIndex(args);
    if (at >= 0) {
      const owner = suites.length ? suites.join(' > ') : scriptName();
      const prefix = suites.length ? `${suites.join(' > ')} > ` : '';
      const idOf = perTest ? (t) => (t && t.name ? prefix + t.name : owner) : () => owner;
      args[at] = reported(args[at], phase, idOf);
    }
    return original.apply(this, args);
  };
}

function patch(api) {
  const wrapped = {
    test: wrapTest(api.test),
    it: wrapTest(api.it),
    describe: wrapSuite(api.describe),
    suite: api.suite && wrapSuite(api.suite),
    before: wrapHook(api.before, 'setup', false),
    beforeEach: wrapHook(api.beforeEach, 'setup', true),
    after: wrapHook(api.after, 'teardown', false),
    afterEach: wrapHook(api.afterEach, 'teardown', true),
  };
  // `skip`, `todo`, `only` and the like keep working through the wrapped functions.
  for (const key of ['test', 'it', 'describe', 'suite']) {
    const original = api[key];
    const fn = wrapped[key];
    if (!original || !fn) continue;
    for (const variant of ['skip', 'todo', 'only']) {
      if (typeof original[variant] === 'function') fn[variant] = original[variant];
    }
  }
  for (const [key, fn] of Object.entries(wrapped)) {
    if (fn) api[key] = fn;
  }
  return wrapped.test;
}

function install() {
  let api;
  try {
    api = require('node:test');
  } catch (_) {
    return; // a node without node:test: nothing to hook
  }
  const test = patch(api);
  Object.assign(test, api);
  // `import { test } from 'node:test'` sees the wrapped functions too.
  if (typeof Module.syncBuiltinESMExports === 'function') Module.syncBuiltinESMExports();
  // `const test = require('node:test')` gets the wrapped default function.
  const load = Module._load;
  Module._load = function loadWithHook(request, ...rest) {
    if (request === 'node:test') return test;
    return load.call(this, request, ...rest);
  };
}

if (file) {
  install();
  require('./querycomb_js_runners.js').install();
}
