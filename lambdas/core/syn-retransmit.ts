/**
 * When the kernel sends a connect's second SYN. Linux sends it after its initial retransmission timeout of
 * 1 s, but that timer sits on the kernel's timer wheel, which rounds a timer of HZ ticks up to the granularity
 * of its level (8 ticks below 504 ticks, 64 ticks from there to 4,031): the second SYN leaves between 1,000 ms
 * and 1,080 ms at HZ=100, 1,032 ms at HZ=250 (measured here: 1,000.8-1,033.9 ms), 1,064 ms at HZ=1000. An
 * attempt that is to see the answer to that SYN has to last past the latest of these.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type * as Zlib from 'node:zlib';

/** Linux's initial retransmission timeout (TCP_TIMEOUT_INIT): the second SYN is due after it. */
export const SYN_RETRANSMIT_MS = 1000;

/**
 * Whether this platform's kernel is known to send a connect's second SYN within {@link SYN_RETRANSMIT_MS} and
 * the slack: Linux. Elsewhere (Windows waits 3 s before its second SYN by default; others are not measured) an
 * attempt is not taken to have sent two SYNs, and a silent port gets the engine's own retry instead.
 */
export function resendsSynWithinASecond(platform: NodeJS.Platform = process.platform): boolean {
  return platform === 'linux';
}

/** The slack when the kernel's HZ cannot be read: the largest of the usual configurations (HZ=100). */
export const UNKNOWN_SLACK_MS = 80;

/** How late the timer wheel may fire a timer of one second at `hz` ticks per second, in milliseconds. */
export function wheelSlackMs(hz: number): number {
  const ticks = hz; // one second
  // Level n starts at 63 << 3(n-1) ticks and has a granularity of 8^n ticks (kernel/time/timer.c).
  let level = 0;
  while (level < 8 && ticks >= 63 << (3 * level)) level++;
  return (8 ** level * 1000) / hz;
}

/** CONFIG_HZ from a kernel build configuration's text, or undefined. */
export function configHz(config: string): number | undefined {
  const match = /^CONFIG_HZ=(\d+)$/m.exec(config);
  const hz = match ? Number(match[1]) : NaN;
  return Number.isInteger(hz) && hz >= 24 && hz <= 10_000 ? hz : undefined;
}

function readKernelConfig(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  for (const [path, gzipped] of [
    ['/proc/config.gz', true],
    [`/boot/config-${os.release()}`, false],
  ] as const) {
    try {
      const bytes = readFileSync(path);
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- zlib only where the config is gzipped
      return (gzipped ? (require('node:zlib') as typeof Zlib).gunzipSync(bytes) : bytes).toString('latin1');
    } catch {
      // not there, or not readable: the next place, then the worst case
    }
  }
  return undefined;
}

/** The slack for a kernel build configuration's text (see {@link synRetransmitSlackMs}). */
export function slackFromConfig(config: string | undefined): number {
  const hz = config === undefined ? undefined : configHz(config);
  return hz === undefined ? UNKNOWN_SLACK_MS : wheelSlackMs(hz);
}

let cached: number | undefined;

/**
 * How late after {@link SYN_RETRANSMIT_MS} this machine's kernel may send the second SYN: the timer wheel's
 * rounding at its HZ, or {@link UNKNOWN_SLACK_MS} when the kernel's configuration cannot be read (read once).
 */
export function synRetransmitSlackMs(): number {
  cached ??= slackFromConfig(readKernelConfig());
  return cached;
}
