import fc from 'fast-check';
import {
  countPorts,
  expandPorts,
  formatPortList,
  mergePortRanges,
  parsePortList,
  PortListError,
  portsToRanges,
} from '../../lambdas/core/ports';

describe('port lists', () => {
  it('reads single ports and ranges, sorted and merged', () => {
    expect(parsePortList('8000-8010, 22,443,23')).toEqual([
      { from: 22, to: 23 },
      { from: 443, to: 443 },
      { from: 8000, to: 8010 },
    ]);
    expect(parsePortList('1-65535')).toEqual([{ from: 1, to: 65535 }]);
  });

  it.each([
    ['', 'it is empty'],
    ['22,,443', '"" is neither a port nor a range'],
    ['ssh', '"ssh" is neither a port nor a range'],
    ['0', 'port 0 is outside 1-65535'],
    ['65536', 'port 65536 is outside 1-65535'],
    ['8010-8000', 'range 8010-8000 runs backwards'],
    ['22-', '"22-" is neither a port nor a range'],
  ])('rejects %j: %s', (input, reason) => {
    // Act
    const act = () => parsePortList(input);
    // Assert
    expect(act).toThrow(PortListError);
    expect(act).toThrow(
      `${JSON.stringify(input)} is not a port list (${reason}); write ports like "22,443,8000-8010"`,
    );
  });

  it('formats, expands and counts', () => {
    const ranges = parsePortList('22,443,8000-8010');
    expect(formatPortList(ranges)).toBe('22,443,8000-8010');
    expect(expandPorts(ranges)).toHaveLength(13);
    expect(countPorts([...ranges, { from: 8005, to: 8012 }])).toBe(15);
  });

  it('round-trips any set of ports through ranges and text', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 200 }),
        (ports) => {
          const sorted = [...ports].sort((a, b) => a - b);
          const ranges = portsToRanges(ports);
          expect(expandPorts(ranges)).toEqual(sorted);
          expect(expandPorts(parsePortList(formatPortList(ranges)))).toEqual(sorted);
          // Merged ranges neither overlap nor touch.
          for (let i = 1; i < ranges.length; i++)
            expect(ranges[i]!.from).toBeGreaterThan(ranges[i - 1]!.to + 1);
          expect(mergePortRanges(ranges)).toEqual(ranges);
        },
      ),
    );
  });
});
