// querycomb's hooks for Jest, Mocha and Vitest, loaded by querycomb_node.js (preloaded
// through NODE_OPTIONS=--require, so every worker process or thread the runner starts loads
// it too). Each runner's own events say when a test, or a hook of a test or suite, starts
// and ends; nothing here changes what the runner does or what a test sees.
//
// - Jest: the test environment class (jest-environment-node, -jsdom or a custom one that
//   exports `TestEnvironment`) gets a `handleTestEvent`, which jest-circus calls on every
//   hook and test function start and end, in each worker.
// - Mocha: the Runner's events (`hook`, `hook end`, `test`, `test end`), also in the
//   worker processes of `--parallel`.
// - Vitest: the worker state's `current` task, which Vitest's runner sets to the test
//   (while its beforeEach, body and afterEach run) or the suite (while its beforeAll and
//   afterAll run), in each forks or threads worker.
//
// A test's id is `<file relative to the working directory> > <describe…> > <test>`.
'use strict';

const path = require('node:path');
const Module = require('node:module');
const { EventEmitter } = require('node:events');
const { begin, finish, only } = require('./querycomb_channel.js');

function relative(file) {
  if (!file) return '<file>';
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function id(file, titles) {
  return [relative(file), ...titles.filter((t) => t)].join(' > ');
}

// ---- Jest ----------------------------------------------------------------------------

function jestTitles(block) {
  const titles = [];
  for (let b = block; b && b.parent; b = b.parent) titles.unshift(b.name);
  return titles;
}

const JEST_HOOK_PHASE = {
  beforeAll: 'setup',
  beforeEach: 'setup',
  afterEach: 'teardown',
  afterAll: 'teardown',
};

function jestEvent(testPath, event, state) {
  const testId = (test) => id(testPath, [...jestTitles(test.parent), test.name]);
  switch (event.name) {
    case 'test_fn_start':
      begin(testId(event.test), 'call');
      break;
    case 'test_fn_success':
    case 'test_fn_failure':
      finish(testId(event.test), 'call');
      break;
    case 'hook_start':
    case 'hook_success':
    case 'hook_failure': {
      const { hook } = event;
      const phase = JEST_HOOK_PHASE[hook.type];
      if (!phase) break;
      const test = state && state.currentlyRunningTest;
      const owner =
        (hook.type === 'beforeEach' || hook.type === 'afterEach') && test
          ? testId(test)
          : id(testPath, jestTitles(hook.parent));
      if (event.name === 'hook_start') begin(owner, phase);
      else finish(owner, phase);
      break;
    }
    default:
  }
}

function isJestEnvironment(value) {
  return (
    typeof value === 'function' &&
    value.prototype &&
    typeof value.prototype.getVmContext === 'function' &&
    !value.querycombHooked
  );
}

function hookJestEnvironment(exports) {
  const Original = [exports && exports.TestEnvironment, exports && exports.default].find(
    isJestEnvironment,
  );
  if (!Original) return;
  class WithQuerycomb extends Original {
    constructor(config, context, ...rest) {
      super(config, context, ...rest);
      this.querycombTestPath = context && context.testPath;
    }

    handleTestEvent(event, state) {
      jestEvent(this.querycombTestPath, event, state);
      if (typeof super.handleTestEvent === 'function') return super.handleTestEvent(event, state);
      return undefined;
    }
  }
  WithQuerycomb.querycombHooked = true;
  Object.defineProperty(WithQuerycomb, 'name', { value: Original.name });
  for (const key of ['TestEnvironment', 'default']) {
    if (exports[key] === Original) exports[key] = WithQuerycomb;
  }
}

// ---- Mocha ---------------------------------------------------------------------------

function mochaTitles(runnable) {
  return typeof runnable.titlePath === 'function' ? runnable.titlePath() : [runnable.title];
}

function mochaHook(hook) {
  const title = String(hook.originalTitle || hook.title || '');
  const each = /each/.test(title);
  const phase = /^"?after/.test(title) ? 'teardown' : 'setup';
  const test = each && hook.ctx && hook.ctx.currentTest;
  const owner = test
    ? id(test.file, mochaTitles(test))
    : id(hook.file || (hook.parent && hook.parent.file), hook.parent ? mochaTitles(hook.parent) : []);
  return { owner, phase };
}

const MOCHA_EVENTS = new Set(['test', 'test end', 'hook', 'hook end']);

function isMochaRunner(emitter) {
  const type = emitter && emitter.constructor;
  return (
    type &&
    type.constants &&
    type.constants.EVENT_TEST_BEGIN === 'test' &&
    typeof emitter.runTests === 'function'
  );
}

function mochaEvent(name, runnable) {
  if (name === 'test') begin(id(runnable.file, mochaTitles(runnable)), 'call');
  else if (name === 'test end') finish(id(runnable.file, mochaTitles(runnable)), 'call');
  else {
    const { owner, phase } = mochaHook(runnable);
    if (name === 'hook') begin(owner, phase);
    else finish(owner, phase);
  }
}

// Mocha 12 is an ES module, out of reach of `require` hooks; its Runner is a Node
// EventEmitter, so its events are seen where every emitter emits (the name is checked
// first: other emitters pay one set lookup).
function watchMocha() {
  const { emit } = EventEmitter.prototype;
  EventEmitter.prototype.emit = function emitSeenByQuerycomb(name, runnable, ...rest) {
    if (MOCHA_EVENTS.has(name) && runnable && isMochaRunner(this)) {
      try {
        mochaEvent(name, runnable);
      } catch (_) {
        // never in the runner's way
      }
    }
    return emit.call(this, name, runnable, ...rest);
  };
}

// ---- Vitest --------------------------------------------------------------------------

function vitestTitles(task) {
  const titles = [];
  // The file task (which has `filepath`) is named by its path, not a title.
  for (let t = task; t && !('filepath' in t); t = t.suite) titles.unshift(t.name);
  return titles;
}

function vitestCurrent(task, started) {
  if (!task) {
    only(null);
    return;
  }
  const file = task.file ? task.file.filepath : task.filepath;
  if (task.type === 'test') {
    for (let s = task.suite; s; s = s.suite) started.add(s);
    if (task.file) started.add(task.file);
    only(id(file, vitestTitles(task)), 'call');
  } else {
    // A suite (or file) outside its tests: its beforeAll runs before any of them, its
    // afterAll once all are done (between two tests it runs nothing).
    const finished = (t) =>
      t.mode !== 'run' || (t.result && ['pass', 'fail', 'skip', 'todo'].includes(t.result.state));
    const done = started.has(task) && (task.tasks || []).every(finished);
    only(id(file, vitestTitles(task)), done ? 'teardown' : 'setup');
  }
}

function watchWorkerState(state) {
  if (!state || typeof state !== 'object' || Object.prototype.hasOwnProperty.call(state, 'querycombWatched')) {
    return state;
  }
  let current = state.current;
  const started = new WeakSet();
  Object.defineProperty(state, 'querycombWatched', { value: true });
  Object.defineProperty(state, 'current', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (task) => {
      current = task;
      vitestCurrent(task, started);
    },
  });
  return state;
}

// Vitest defines its worker state on the global object with Object.defineProperty.
function watchVitest() {
  const define = Object.defineProperty;
  Object.defineProperty = function defineProperty(target, key, descriptor) {
    if (key === '__vitest_worker__' && descriptor && 'value' in descriptor) {
      watchWorkerState(descriptor.value);
    }
    return define(target, key, descriptor);
  };
}

// ---- loading -------------------------------------------------------------------------

function install() {
  const load = Module._load;
  Module._load = function loadWithRunnerHooks(request, ...rest) {
    const exports = load.call(this, request, ...rest);
    try {
      if (exports && (exports.TestEnvironment || exports.default)) hookJestEnvironment(exports);
    } catch (_) {
      // a module that only looks like a runner: leave it alone
    }
    return exports;
  };
  watchVitest();
  watchMocha();
}

module.exports = { install };
