// When the kernel re-sends a connect's SYN: Linux's 1 s timeout and its timer wheel's rounding at each HZ.
import {
  configHz,
  resendsSynWithinASecond,
  slackFromConfig,
  synRetransmitSlackMs,
  UNKNOWN_SLACK_MS,
  wheelSlackMs,
} from '../../lambdas/core/syn-retransmit';

describe('the timer wheel rounding of a one-second timer', () => {
  test.each([
    [100, 80], // 100 ticks: level 1, 8 ticks of 10 ms
    [250, 32], // 250 ticks: level 1, 8 ticks of 4 ms (measured here: second SYNs at 1,000.8-1,033.9 ms)
    [300, 80 / 3], // 300 ticks: level 1
    [1000, 64], // 1,000 ticks: level 2, 64 ticks of 1 ms
  ])('HZ=%i rounds up by at most %d ms', (hz, slack) => {
    expect(wheelSlackMs(hz)).toBeCloseTo(slack, 6);
  });
});

describe('the kernel configuration', () => {
  test('reads CONFIG_HZ, and only a plausible one', () => {
    expect(configHz('CONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_HIGH_RES_TIMERS=y\n')).toBe(250);
    expect(configHz('# CONFIG_HZ is not set\n')).toBeUndefined();
    expect(configHz('CONFIG_HZ=0\n')).toBeUndefined();
    expect(configHz('XCONFIG_HZ=250\n')).toBeUndefined();
  });

  test('an unknown kernel gets the largest usual rounding', () => {
    expect(slackFromConfig(undefined)).toBe(UNKNOWN_SLACK_MS);
    expect(slackFromConfig('nothing here')).toBe(UNKNOWN_SLACK_MS);
    expect(UNKNOWN_SLACK_MS).toBe(Math.max(...[100, 250, 300, 1000].map(wheelSlackMs)));
    expect(slackFromConfig('CONFIG_HZ=1000\n')).toBe(64);
  });

  test('this machine answers with one of those, the same every time', () => {
    const slack = synRetransmitSlackMs();
    expect([80, 32, 80 / 3, 64]).toContainEqual(slack);
    expect(synRetransmitSlackMs()).toBe(slack);
  });
});

describe('where the kernel re-sends the SYN inside an attempt', () => {
  test('only Linux is counted on; elsewhere a silent port gets its own retry', () => {
    expect(resendsSynWithinASecond('linux')).toBe(true);
    expect(resendsSynWithinASecond('win32')).toBe(false);
    expect(resendsSynWithinASecond('darwin')).toBe(false);
  });
});
