// How an agent splits a job's results into the pages it posts: by count and by the API's body limit.
import { AGENT_PAGE_BYTES, AGENT_RESULTS_PAGE, resultPages } from '../../lambdas/core/agent/jobs';
import type { ProbeResult } from '../../lambdas/core/probe';

/** An open 443 whose certificate was read: what a wave of web servers gives. */
function tlsResult(i: number): ProbeResult {
  const host = `app${String(i).padStart(4, '0')}.corp.example.com`;
  return {
    host,
    address: `10.20.${i >> 8}.${i & 255}`,
    port: 443,
    state: 'open',
    latencyMs: 12.4,
    attempts: 1,
    service: {
      kind: 'tls',
      version: 'TLSv1.3',
      subject: `CN=${host}, OU=Payments Platform, O=Example Corporation, L=Frankfurt am Main, ST=Hessen, C=DE`,
      issuer:
        'CN=Example Corporation Issuing CA 02, OU=PKI Services, O=Example Corporation, DC=corp, DC=example, DC=com',
      notBefore: '2026-01-14T09:12:44.000Z',
      notAfter: '2026-07-14T09:12:44.000Z',
      selfSigned: false,
      hostnameMatch: 'not-checked',
      warning: `the certificate expired on 2026-07-14T09:12:44.000Z; it names ${host}, not the address probed`,
    },
  } as ProbeResult;
}

const bodyBytes = (page: readonly unknown[]) =>
  Buffer.byteLength(
    JSON.stringify({ agent: 'agent-0123456789abcdef', page: 9999, results: page, last: true }),
  );

describe('result pages', () => {
  test('a wave of TLS identities is split so that no page outgrows the API body limit', () => {
    // Arrange: 500 identified web servers, about 600 bytes each.
    const results = Array.from({ length: 500 }, (_, i) => tlsResult(i));
    const limit = AGENT_PAGE_BYTES + 1024; // the API's body limit

    // Act
    const pages = resultPages(results, AGENT_RESULTS_PAGE, AGENT_PAGE_BYTES);

    // Assert: a page of a fixed count (as the agent posted before) would have been refused with a 413...
    expect(bodyBytes(results)).toBeGreaterThan(limit);
    // ...these fit, keep every result once and in order.
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(bodyBytes(page)).toBeLessThanOrEqual(limit);
    expect(pages.flat()).toEqual(results);
  });

  test('plain results fill a page to its count', () => {
    const results = Array.from({ length: 2500 }, (_, i) => ({
      host: '10.0.0.1',
      port: i + 1,
      state: 'closed',
    }));
    const pages = resultPages(results, 1000, AGENT_PAGE_BYTES);
    expect(pages.map((p) => p.length)).toEqual([1000, 1000, 500]);
  });

  test('an empty job is one empty page (it completes the job); an oversize result is a page of its own', () => {
    expect(resultPages([], 1000, 100)).toEqual([[]]);
    const big = { host: 'x'.repeat(200), port: 1 };
    const small = { host: 'y', port: 2 };
    expect(resultPages([small, big, small], 1000, 100)).toEqual([[small], [big], [small]]);
  });
});
