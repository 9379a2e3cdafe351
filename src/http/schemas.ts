/** Shared JSON schemas: the contract of the API and the source of /openapi.json. */
import { type TNull, type TSchema, type TUnion, Type } from "@sinclair/typebox";

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      field: Type.Optional(Type.String()),
      existingUserId: Type.Optional(Type.String()),
    }),
  },
  { $id: "ErrorResponse", description: "Every error of the API" },
);

/**
 * `T | null`. Null comes first: where types are coerced (querystring and params, see
 * http/validation.ts), a string branch tried first would turn a null into "".
 */
export const Nullable = <T extends TSchema>(t: T): TUnion<[TNull, T]> => {
  // A primitive becomes `type: ["null", …]`: the same contract, and fast-json-stringify writes it
  // directly, where an anyOf makes it validate every value against each branch first.
  const primitive = typeof t.type === "string" && ["string", "number", "integer", "boolean"].includes(t.type);
  if (primitive) return Type.Unsafe({ ...t, type: ["null", t.type] }) as unknown as TUnion<[TNull, T]>;
  return Type.Union([Type.Null(), t]);
};

/** A string out of a fixed list (`enum`, not an anyOf of literals, for the same reason). */
export const OneOf = <const V extends readonly string[]>(values: V, options: { description?: string } = {}) =>
  Type.Unsafe<V[number]>({ type: "string", enum: [...values], ...options });

export const UserSchema = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    name: Type.String(),
    role: OneOf(["admin", "analyst"]),
    externalUserId: Nullable(Type.String()),
    platformLanguage: Type.String(),
    subAccountIds: Type.Array(Type.String()),
    groupSubAccountIds: Type.Array(Type.String(), {
      description:
        "Those of subAccountIds granted by an SSO connection's groups (SPEC §13): recomputed at each sign-in through it; the others were granted by hand",
    }),
    active: Type.Boolean(),
    twoFactorEnabled: Type.Boolean(),
    hasPassword: Type.Boolean(),
    createdAt: Type.String({ format: "date-time" }),
    updatedAt: Type.String({ format: "date-time" }),
  },
  { description: "A person of the agency" },
);

/** Input of user create/update (admin API and provisioning API share it). */
export const UserInputSchema = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 320 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    role: Type.Optional(OneOf(["admin", "analyst"])),
    externalUserId: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
    platformLanguage: Type.Optional(Type.String({ maxLength: 35 })),
    subAccountIds: Type.Optional(Type.Array(Type.String())),
    password: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
