import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** The scheduling policy of thread `tid` of this process: field 41 of /proc/self/task/TID/stat (5 is SCHED_IDLE). */
const policyOf = (tid: number) => {
  const st = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[38]);
};
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

describe('setThreadIdle', () => {
  it('puts only the calling thread under SCHED_IDLE', async () => {
    // A worker asks for it and reports its thread id (gettid, read from /proc/thread-self).
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      const { readlinkSync } = require('node:fs');
      import(${JSON.stringify(new URL('../index.js', import.meta.url).href)}).then((native) => {
        native.setThreadIdle();
        parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
      });
    `, { eval: true });
    try {
      const tid = await new Promise<number>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      expect(policyOf(tid)).toBe(SCHED_IDLE);
      expect(policyOf(process.pid)).toBe(SCHED_OTHER);
    } finally {
      await worker.terminate();
    }
  });
});
