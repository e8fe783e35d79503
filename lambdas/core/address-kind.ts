/**
 * What an endpoint string is. Kept apart from the environment schemas (zod, YAML) so that
 * `preflight probe --target` can check a host without loading them.
 */
import { isIP } from 'node:net';

const HOSTNAME =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** What an endpoint string is: a host name, an IP address or a CIDR block. */
export type AddressKind = 'hostname' | 'ip' | 'cidr';

/** Classifies an endpoint string, or returns undefined when it is none of a host name, an IP or a CIDR. */
export function classifyAddress(text: string): AddressKind | undefined {
  if (isIP(text)) return 'ip';
  const slash = text.indexOf('/');
  if (slash > 0) {
    const ip = text.slice(0, slash);
    const bits = text.slice(slash + 1);
    const family = isIP(ip);
    if (family === 0 || !/^\d{1,3}$/.test(bits)) return undefined;
    return Number(bits) <= (family === 4 ? 32 : 128) ? 'cidr' : undefined;
  }
  // A dotted quad that isIP rejected (10.0.0.300) is a bad address, not a host name.
  if (/^[\d.]+$/.test(text)) return undefined;
  return HOSTNAME.test(text) ? 'hostname' : undefined;
}
