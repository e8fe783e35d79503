import fc from 'fast-check';
import {
  ALL_ADDRESSES,
  type AddressSet,
  addressSetOf,
  addressSetsEqual,
  addressSetsIntersect,
  cidrSet,
  CidrError,
  containsAddress,
  countAddresses,
  EMPTY_ADDRESSES,
  formatCidr,
  formatIpv4,
  formatIpv6,
  intersectAddresses,
  isEmptyAddressSet,
  parseCidr,
  subtractAddresses,
  toCidrs,
  unionAddresses,
} from '../../../lambdas/core/audit/addresses';

const texts = (set: AddressSet) => toCidrs(set).map(formatCidr);

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/24', '10.0.0.0/24'],
    ['10.0.0.5', '10.0.0.5/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/32', '255.255.255.255/32'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['fe80::', 'fe80::/128'],
    ['::ffff:10.0.0.1/128', '::ffff:a00:1/128'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['2001:0:0:1:0:0:0:1/128', '2001:0:0:1::1/128'],
  ])('reads %s as %s', (input, shown) => {
    // Act
    const cidr = parseCidr(input);
    // Assert
    expect(formatCidr(cidr)).toBe(shown);
  });

  it.each([
    ['10.0.0.5/24', '10.0.0.0/24'],
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['2001:db8::1/64', '2001:db8::/64'],
  ])('masks the host bits of %s to %s', (input, shown) => {
    expect(formatCidr(parseCidr(input))).toBe(shown);
  });

  it.each([
    ['10.0.0/24', 'an IPv4 address has four dot-separated numbers'],
    ['10.0.0.256/32', 'octet 256 is above 255'],
    ['10.0.0.01', '"01" is not a decimal octet'],
    ['10.0.0.0/33', 'prefix length 33 is above 32'],
    ['10.0.0.0/', 'prefix length "" is not a number'],
    ['10.0.0.0/x', 'prefix length "x" is not a number'],
    ['2001:db8::/129', 'prefix length 129 is above 128'],
    ['2001:db8::1::2', '"::" appears more than once'],
    ['2001:db8:0:0:0:0:0:0:1', 'an IPv6 address has eight groups, or "::"'],
    ['1:2:3:4::5:6:7:8', '"::" must stand for at least one group'],
    ['2001:db8::g', '"g" is not a group of 1-4 hexadecimal digits'],
    ['fe80::1%eth0', 'zone indexes are not allowed'],
    ['', 'it is empty'],
    ['10.0.0.0.0', 'an IPv4 address has four dot-separated numbers'],
    ['10..0.0', '"" is not a decimal octet'],
    ['10.0.x.0', '"x" is not a decimal octet'],
  ])('rejects %j: %s', (input, reason) => {
    // Act
    const act = () => parseCidr(input);
    // Assert
    expect(act).toThrow(CidrError);
    expect(act).toThrow(`${JSON.stringify(input)} is not a CIDR block (${reason})`);
  });

  it('formats IPv6 the RFC 5952 way: the longest zero run, the first one on a tie, never one group', () => {
    expect(formatIpv6(0n)).toBe('::');
    expect(formatIpv6(BigInt('0x20010db8000000010000000000000001'))).toBe('2001:db8:0:1::1');
    expect(formatIpv6(BigInt('0x20010000000000010000000000000001'))).toBe('2001:0:0:1::1');
    expect(formatIpv6(BigInt('0x20010db8000100010001000100010001'))).toBe('2001:db8:1:1:1:1:1:1');
    expect(formatIpv6(BigInt('0x20010db8000000010001000100010001'))).toBe('2001:db8:0:1:1:1:1:1');
  });
});

describe('address sets', () => {
  it('keeps the families apart: IPv4 blocks never hold IPv6 addresses', () => {
    // Arrange
    const v4 = addressSetOf(['0.0.0.0/0']);
    const v6 = addressSetOf(['::/0']);
    // Act
    const both = intersectAddresses(v4, v6);
    // Assert
    expect(isEmptyAddressSet(both)).toBe(true);
    expect(addressSetsIntersect(v4, v6)).toBe(false);
    expect(containsAddress(v4, 0n)).toBe(false);
    expect(containsAddress(v6, 0)).toBe(false);
    expect(addressSetsEqual(unionAddresses(v4, v6), ALL_ADDRESSES)).toBe(true);
  });

  it('merges touching blocks, so equal sets have equal forms', () => {
    // Arrange
    const halves = addressSetOf(['10.0.0.0/25', '10.0.0.128/25']);
    // Act / Assert
    expect(halves).toEqual(addressSetOf(['10.0.0.0/24']));
    expect(texts(halves)).toEqual(['10.0.0.0/24']);
  });

  it('subtracts one address from a block into the fewest blocks', () => {
    // Act
    const rest = subtractAddresses(addressSetOf(['10.0.1.0/24']), addressSetOf(['10.0.1.5']));
    // Assert
    expect(texts(rest)).toEqual([
      '10.0.1.0/30',
      '10.0.1.4/32',
      '10.0.1.6/31',
      '10.0.1.8/29',
      '10.0.1.16/28',
      '10.0.1.32/27',
      '10.0.1.64/26',
      '10.0.1.128/25',
    ]);
    expect(countAddresses(rest)).toEqual({ v4: 255, v6: 0n });
  });

  it('decomposes the whole space and its edges', () => {
    expect(texts(ALL_ADDRESSES)).toEqual(['0.0.0.0/0', '::/0']);
    expect(texts(subtractAddresses(ALL_ADDRESSES, addressSetOf(['0.0.0.0/1', '::/1'])))).toEqual([
      '128.0.0.0/1',
      '8000::/1',
    ]);
    expect(texts(addressSetOf(['255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']))).toEqual([
      '255.255.255.255/32',
      'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
    ]);
    expect(texts(EMPTY_ADDRESSES)).toEqual([]);
  });

  it('splits an IPv6 range with bigint precision', () => {
    // Act
    const rest = subtractAddresses(addressSetOf(['2001:db8::/32']), addressSetOf(['2001:db8:8000::/33']));
    // Assert
    expect(texts(rest)).toEqual(['2001:db8::/33']);
    expect(countAddresses(rest).v6).toBe(1n << 95n);
  });
});

// Small universes: 10.0.0.0/26 and 2001:db8::/122, each address an index 0-63.
const V4_BASE = 0x0a000000;
const V6_BASE = BigInt('0x20010db8000000000000000000000000');

const blockArb = fc
  .record({ v6: fc.boolean(), hostBits: fc.integer({ min: 0, max: 6 }), k: fc.nat(63) })
  .map(({ v6, hostBits, k }) => {
    const size = 2 ** hostBits;
    const base = (k * size) % 64;
    const members = Array.from({ length: size }, (_, i) => base + i);
    const text = v6
      ? `${formatIpv6(V6_BASE + BigInt(base))}/${128 - hostBits}`
      : `10.0.0.${base}/${32 - hostBits}`;
    return { v6, text, members };
  });
type Gen = { v6: boolean; text: string; members: number[] };
const setArb = fc.array(blockArb, { maxLength: 5 });

const build = (blocks: Gen[]) => addressSetOf(blocks.map((b) => b.text));
const truth = (blocks: Gen[], v6: boolean) =>
  new Set(blocks.filter((b) => b.v6 === v6).flatMap((b) => b.members));
const members = (set: AddressSet, v6: boolean) =>
  Array.from({ length: 64 }, (_, i) => i).filter((i) =>
    containsAddress(set, v6 ? V6_BASE + BigInt(i) : V4_BASE + i),
  );

/** The fewest aligned blocks holding exactly `set` within an aligned block, by halving (independent of toCidrs). */
function fewestBlocks(set: Set<number>, start = 0, size = 64): number {
  let inside = 0;
  for (let i = start; i < start + size; i++) if (set.has(i)) inside++;
  if (inside === 0) return 0;
  if (inside === size) return 1;
  return fewestBlocks(set, start, size / 2) + fewestBlocks(set, start + size / 2, size / 2);
}

describe('address set arithmetic against brute force', () => {
  it('union, intersection, difference, emptiness and equality match per-address truth', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        // Arrange
        const sa = build(a);
        const sb = build(b);
        for (const v6 of [false, true]) {
          const ta = truth(a, v6);
          const tb = truth(b, v6);
          const all = Array.from({ length: 64 }, (_, i) => i);
          // Act / Assert
          expect(members(unionAddresses(sa, sb), v6)).toEqual(all.filter((i) => ta.has(i) || tb.has(i)));
          expect(members(intersectAddresses(sa, sb), v6)).toEqual(all.filter((i) => ta.has(i) && tb.has(i)));
          expect(members(subtractAddresses(sa, sb), v6)).toEqual(all.filter((i) => ta.has(i) && !tb.has(i)));
        }
        const same = [false, true].every((v6) => {
          const ta = truth(a, v6);
          const tb = truth(b, v6);
          return ta.size === tb.size && [...ta].every((i) => tb.has(i));
        });
        expect(addressSetsEqual(sa, sb)).toBe(same);
        expect(addressSetsIntersect(sa, sb)).toBe(!isEmptyAddressSet(intersectAddresses(sa, sb)));
        expect(isEmptyAddressSet(sa)).toBe(truth(a, false).size + truth(a, true).size === 0);
      }),
      { numRuns: 300 },
    );
  });

  it('turns any set into the fewest CIDR blocks that cover exactly it, and back', () => {
    fc.assert(
      fc.property(setArb, setArb, (a, b) => {
        // Arrange
        const set = subtractAddresses(build(a), build(b));
        // Act
        const cidrs = toCidrs(set);
        // Assert: the blocks rebuild the set, are disjoint and sorted, and are as few as possible.
        expect(addressSetOf(cidrs)).toEqual(set);
        const sizes = cidrs.reduce(
          (n, c) => n + countAddresses(cidrSet(c)).v4 + Number(countAddresses(cidrSet(c)).v6),
          0,
        );
        expect(sizes).toBe(countAddresses(set).v4 + Number(countAddresses(set).v6));
        const texts = cidrs.map(formatCidr);
        expect(addressSetOf(texts)).toEqual(set);
        for (const v6 of [false, true]) {
          const want = fewestBlocks(new Set(members(set, v6)));
          expect(cidrs.filter((c) => (c.family === 'ipv6') === v6)).toHaveLength(want);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('address text round trips', () => {
  it('reads back every IPv4 and IPv6 address it writes, at every prefix length', () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 32 - 1),
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 128 }),
        (v4, v6, length4, length6) => {
          // Act
          const address4 = parseCidr(formatIpv4(v4));
          const address6 = parseCidr(formatIpv6(v6));
          const block4 = parseCidr(`${formatIpv4(v4)}/${length4}`);
          const block6 = parseCidr(`${formatIpv6(v6)}/${length6}`);
          // Assert
          expect(address4).toEqual({ family: 'ipv4', first: v4, prefixLength: 32 });
          expect(address6).toEqual({ family: 'ipv6', first: v6, prefixLength: 128 });
          expect(block4.first).toBe(Math.floor(v4 / 2 ** (32 - length4)) * 2 ** (32 - length4));
          expect(block6.first).toBe((v6 >> BigInt(128 - length6)) << BigInt(128 - length6));
          expect(parseCidr(formatCidr(block4))).toEqual(block4);
          expect(parseCidr(formatCidr(block6))).toEqual(block6);
        },
      ),
      { numRuns: 300 },
    );
  });
});
