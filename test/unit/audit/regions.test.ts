import fc from 'fast-check';
import { addressSetOf, formatIpv6 } from '../../../lambdas/core/audit/addresses';
import {
  EMPTY_REGION,
  intersectRegions,
  isEmptyRegion,
  protocolScope,
  type Region,
  regionAddresses,
  regionOf,
  regionPorts,
  regionsEqual,
  statusOf,
  subtractRegions,
  toMissingBlocks,
  unionRegions,
} from '../../../lambdas/core/audit/regions';

describe('regions over ports × addresses', () => {
  it('keeps a canonical form: adjacent segments with equal addresses merge', () => {
    // Arrange
    const low = regionOf([{ from: 8000, to: 8005 }], addressSetOf(['10.10.0.0/16']));
    const high = regionOf([{ from: 8006, to: 8010 }], addressSetOf(['10.10.0.0/17', '10.10.128.0/17']));
    // Act
    const both = unionRegions(low, high);
    // Assert
    expect(both).toEqual(regionOf([{ from: 8000, to: 8010 }], addressSetOf(['10.10.0.0/16'])));
    expect(regionsEqual(both, regionOf([{ from: 8000, to: 8010 }], addressSetOf(['10.10.0.0/16'])))).toBe(
      true,
    );
  });

  it('subtracts coverage into the exact uncovered ports and blocks', () => {
    // Arrange
    const need = regionOf([{ from: 8000, to: 8010 }], addressSetOf(['10.10.0.0/16']));
    const rules = unionRegions(
      regionOf([{ from: 8000, to: 8005 }], addressSetOf(['10.10.0.0/16'])),
      regionOf([{ from: 8006, to: 8010 }], addressSetOf(['10.10.0.0/17'])),
    );
    // Act
    const missing = subtractRegions(need, rules);
    // Assert
    expect(toMissingBlocks(missing, 'tcp')).toEqual([
      { protocol: 'tcp', fromPort: 8006, toPort: 8010, cidr: '10.10.128.0/17' },
    ]);
    expect(regionPorts(missing)).toEqual([{ from: 8006, to: 8010 }]);
    expect(regionAddresses(missing)).toEqual(addressSetOf(['10.10.128.0/17']));
    expect(statusOf(missing, need)).toBe('partial');
    expect(statusOf(need, need)).toBe('blocked');
    expect(statusOf(EMPTY_REGION, need)).toBe('allowed');
  });

  it('lists blocks by port, then address (IPv4 first), joining a CIDR across adjacent segments', () => {
    // Arrange: 22-30 × {10.0.0.0/24, 2001:db8::/64} ∪ 20-25 × 10.0.5.0/24
    const region = unionRegions(
      regionOf([{ from: 22, to: 30 }], addressSetOf(['2001:db8::/64', '10.0.0.0/24'])),
      regionOf([{ from: 20, to: 25 }], addressSetOf(['10.0.5.0/24'])),
    );
    // Act
    const blocks = toMissingBlocks(region, 'udp');
    // Assert
    expect(blocks).toEqual([
      { protocol: 'udp', fromPort: 20, toPort: 25, cidr: '10.0.5.0/24' },
      { protocol: 'udp', fromPort: 22, toPort: 30, cidr: '10.0.0.0/24' },
      { protocol: 'udp', fromPort: 22, toPort: 30, cidr: '2001:db8::/64' },
    ]);
  });

  it('is empty only when it holds nothing', () => {
    expect(isEmptyRegion(EMPTY_REGION)).toBe(true);
    expect(isEmptyRegion(regionOf([{ from: 1, to: 2 }], addressSetOf([])))).toBe(true);
    expect(isEmptyRegion(regionOf([{ from: 1, to: 1 }], addressSetOf(['::/128'])))).toBe(false);
  });

  it.each([
    ['-1', 'all'],
    ['tcp', 'tcp'],
    ['6', 'tcp'],
    ['UDP', 'udp'],
    ['17', 'udp'],
    ['icmp', 'other'],
    ['1', 'other'],
    ['58', 'other'],
    ['icmpv6', 'other'],
    ['50', 'other'],
  ])('reads protocol %j as %s', (protocol, scope) => {
    expect(protocolScope(protocol)).toBe(scope);
  });
});

// Brute force over ports 1-12 × 16 IPv4 + 16 IPv6 addresses.
const rectArb = fc
  .record({
    from: fc.integer({ min: 1, max: 12 }),
    span: fc.integer({ min: 0, max: 6 }),
    v6: fc.boolean(),
    hostBits: fc.integer({ min: 0, max: 4 }),
    k: fc.nat(15),
  })
  .map(({ from, span, v6, hostBits, k }) => {
    const size = 2 ** hostBits;
    const base = (k * size) % 16;
    const to = Math.min(12, from + span);
    const cidr = v6 ? `${formatIpv6(BigInt(base))}/${128 - hostBits}` : `10.0.0.${base}/${32 - hostBits}`;
    const points: string[] = [];
    for (let p = from; p <= to; p++)
      for (let i = 0; i < size; i++) points.push(`${p}@${v6 ? 'v6' : 'v4'}${base + i}`);
    return { region: regionOf([{ from, to }], addressSetOf([cidr])), points };
  });
type Rect = { region: Region; points: string[] };
const regionArb = fc.array(rectArb, { maxLength: 5 }).map((rects: Rect[]) => ({
  region: rects.reduce((r, x) => unionRegions(r, x.region), EMPTY_REGION),
  points: new Set(rects.flatMap((x) => x.points)),
}));

function pointsOf(region: Region): string[] {
  return toMissingBlocks(region, 'tcp').flatMap((b) => {
    const [address, length] = b.cidr.split('/') as [string, string];
    const v6 = address.includes(':');
    const base = v6 ? parseInt(address.replace(/^::/, '') || '0', 16) : Number(address.split('.')[3]);
    const size = 2 ** ((v6 ? 128 : 32) - Number(length));
    const out: string[] = [];
    for (let p = b.fromPort; p <= b.toPort; p++)
      for (let i = 0; i < size; i++) out.push(`${p}@${v6 ? 'v6' : 'v4'}${base + i}`);
    return out;
  });
}

const sortedPoints = (points: Iterable<string>) => [...points].sort();

describe('region arithmetic against brute force', () => {
  it('union, intersection and difference hold exactly the expected points, as disjoint blocks', () => {
    fc.assert(
      fc.property(regionArb, regionArb, (a, b) => {
        // Act
        const union = unionRegions(a.region, b.region);
        const both = intersectRegions(a.region, b.region);
        const diff = subtractRegions(a.region, b.region);
        // Assert
        const pa = a.points;
        const pb = b.points;
        expect(sortedPoints(pointsOf(union))).toEqual(sortedPoints(new Set([...pa, ...pb])));
        expect(sortedPoints(pointsOf(both))).toEqual(sortedPoints([...pa].filter((p) => pb.has(p))));
        expect(sortedPoints(pointsOf(diff))).toEqual(sortedPoints([...pa].filter((p) => !pb.has(p))));
        expect(isEmptyRegion(diff)).toBe([...pa].every((p) => pb.has(p)));
        // Canonical: the same points always give the same form, whichever way they were built.
        expect(regionsEqual(unionRegions(diff, both), a.region)).toBe(true);
        expect(unionRegions(diff, both)).toEqual(a.region);
      }),
      { numRuns: 300 },
    );
  });
});
