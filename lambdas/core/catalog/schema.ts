import { z } from 'zod';
import { type PortRange, PortListError, parsePortList } from '../ports';

/** Where a role runs by default: in the target VPC, on the customer's premises, or as a SaaS endpoint. */
export const placementSchema = z.enum(['cloud', 'on-prem', 'internet']);
export type Placement = z.infer<typeof placementSchema>;

export const protocolSchema = z.enum(['tcp', 'udp']);
export type Protocol = z.infer<typeof protocolSchema>;

const idSchema = z.string().regex(/^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an id (lower-case words joined by '-')`,
});

/** A component of a migration topology, such as `target-worker` or `vcenter`. */
export const roleSchema = z
  .object({
    id: idSchema,
    name: z.string().min(1),
    placement: placementSchema,
    description: z.string().min(1).optional(),
    /**
     * A more specific kind of another role: an endpoint of this role also receives every requirement
     * addressed to the broader one (a `source-server-windows` is a `source-server`).
     */
    kindOf: idSchema.optional(),
  })
  .strict();
export type Role = z.infer<typeof roleSchema>;

/** Where a requirement is documented: the seed document's file name, its section and the row in it. */
export const sourceRefSchema = z
  .object({
    file: z.string().min(1),
    document: z.string().min(1),
    section: z.string().min(1),
    /** 1-based row of the section's table, or the item number of a numbered list. */
    row: z.number().int().min(1),
  })
  .strict();
export type SourceRef = z.infer<typeof sourceRefSchema>;

/** Port lists are written `"22,443,8000-8010"` in data files and read into merged ranges. */
export const portListSchema = z.string().transform((text, ctx): PortRange[] => {
  try {
    return parsePortList(text);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: err instanceof PortListError ? err.message : String(err),
      input: text,
    });
    return z.NEVER;
  }
});

/** One documented row of a vendor's port matrix. */
export const requirementSchema = z
  .object({
    id: idSchema,
    profiles: z.array(idSchema).min(1),
    from: idSchema,
    to: idSchema,
    protocol: protocolSchema,
    ports: portListSchema,
    purpose: z.string().min(1),
    optional: z.boolean(),
    source: sourceRefSchema,
    /** Why the direction (or split) was read this way, where the document is ambiguous. */
    reading: z.string().min(1).optional(),
  })
  .strict();
export type Requirement = z.infer<typeof requirementSchema>;

export const profileSchema = z
  .object({
    id: idSchema,
    name: z.string().min(1),
    vendor: z.string().min(1),
    description: z.string().min(1),
  })
  .strict();
export type Profile = z.infer<typeof profileSchema>;

/** One data file of the catalog: a vendor's roles, profiles and requirements. */
export const catalogFileSchema = z
  .object({
    $comment: z.string().optional(),
    roles: z.array(roleSchema).default([]),
    profiles: z.array(profileSchema).default([]),
    requirements: z.array(requirementSchema).default([]),
  })
  .strict();
export type CatalogFile = z.infer<typeof catalogFileSchema>;
