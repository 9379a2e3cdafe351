/**
 * Request validation: Fastify's own Ajv compiler (@fastify/ajv-compiler: ajv-formats, the schemas
 * added with `addSchema`, the server's `ajv` options) in two configurations, chosen by the part of
 * the request being validated:
 *
 *   - querystring, params and headers are strings on the wire: their values are coerced to the
 *     schema's types (`?page=2` is the integer 2; one `?x=` fills an array);
 *   - a JSON body carries real types: nothing is coerced. `{"name": 123}` is refused with the
 *     usual 422 naming the field instead of becoming "123"; `"true"` is not `true`, and a string
 *     is not a one-element array.
 *
 * `ajv.customOptions.coerceTypes` would apply to every part, so the choice is made by the validator
 * factory of the schema controller (Fastify Server reference: `schemaController.compilersFactory`).
 *
 * One more rule holds for every body, querystring and params, whatever the route's schema, after
 * the schema's own checks and coercion (`unsafeValue`):
 *
 *   - no string (value or property name) carries a C0 control character other than tab, line
 *     feed and carriage return: U+0000 is refused by PostgreSQL's text type, and the others have
 *     no business in an email, a name or an id;
 *   - no number is infinite or an integer beyond ±(2^53 − 1) (`?page=1e400`, `9007199254740993`),
 *     which JSON and the coercion turn into values that are not the number that was sent.
 *
 * Either is the usual 422 naming the field.
 */
import AjvCompiler from "@fastify/ajv-compiler";

type ValidatorFactory = AjvCompiler.BuildCompilerFromPool;
type RouteSchema = { schema: unknown; httpPart?: string };

/** The request parts whose values arrive as strings and are coerced to their schema's types. */
const STRING_PARTS = new Set(["querystring", "params", "headers"]);

/** C0 controls but tab, LF and CR. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it finds
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/** An Ajv-shaped error for the request part's error handler (errors.ts names the field from it). */
interface PartError {
  keyword: string;
  instancePath: string;
  schemaPath: string;
  params: Record<string, unknown>;
  message: string;
}

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;

const partError = (keyword: string, instancePath: string, message: string): PartError => ({
  keyword,
  instancePath,
  schemaPath: "#",
  params: {},
  message,
});

/** The first string or number of a request part the rule above refuses, as a validation error. */
export function unsafeValue(value: unknown, path = ""): PartError | null {
  if (typeof value === "string") {
    return CONTROL.test(value)
      ? partError("controlCharacters", path, "must not contain control characters")
      : null;
  }
  if (typeof value === "number") {
    const bad = !Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value));
    return bad ? partError("safeNumber", path, "must be a finite number within ±9007199254740991") : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const error = unsafeValue(value[i], pointer(path, i));
      if (error) return error;
    }
    return null;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      const at = pointer(path, key);
      if (CONTROL.test(key))
        return partError("controlCharacters", at, "must not contain control characters in its name");
      const error = unsafeValue(item, at);
      if (error) return error;
    }
  }
  return null;
}

/** What Fastify passes a validator with `schemaEnv`: the request and the part's name. */
type DataContext = { parentData: Record<string, unknown>; parentDataProperty: string };

type Validate = ((data: unknown, dataCxt?: DataContext) => boolean) & {
  errors?: unknown[] | null;
  schemaEnv?: unknown;
};

/** The request parts the rule of `unsafeValue` holds for (headers are the HTTP parser's). */
const CHECKED_PARTS = new Set(["body", "querystring", "params"]);

/** The compiled validator of a part, followed by the `unsafeValue` rule. */
function withSafeValues(validate: Validate): Validate {
  const wrapped: Validate = (data, dataCxt) => {
    if (!validate(data, dataCxt)) {
      wrapped.errors = validate.errors;
      return false;
    }
    // Coercion may have replaced the root value (Ajv writes it back through the parent).
    const value = dataCxt ? dataCxt.parentData[dataCxt.parentDataProperty] : data;
    const error = unsafeValue(value);
    wrapped.errors = error ? [error] : null;
    return error === null;
  };
  // Fastify passes the parent (so coercion can replace a root value) only when this is set.
  wrapped.schemaEnv = validate.schemaEnv;
  return wrapped;
}

/** A validator factory that coerces the string parts of a request and validates bodies strictly. */
export function partAwareValidatorFactory(): ValidatorFactory {
  // One pool per server: contexts with the same external schemas share their Ajv instances.
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    // JSON Type Definition schemas have no coercion to choose; they go to the pool as they are.
    if (options?.mode === "JTD") return pool(externalSchemas, options);
    const withCoercion = (coerceTypes: false | "array") =>
      pool(externalSchemas, { ...options, customOptions: { ...options?.customOptions, coerceTypes } }) as (
        route: RouteSchema,
      ) => ReturnType<ReturnType<ValidatorFactory>>;
    const strict = withCoercion(false);
    const coercing = withCoercion("array");
    const compile = (route: RouteSchema) => {
      const validate = (STRING_PARTS.has(route.httpPart ?? "") ? coercing : strict)(
        route,
      ) as unknown as Validate;
      return CHECKED_PARTS.has(route.httpPart ?? "") ? withSafeValues(validate) : validate;
    };
    // Fastify calls it with the route definition ({ schema, method, url, httpPart }), which the
    // pool's compilers take too, whatever their declared type says.
    return compile as unknown as ReturnType<ValidatorFactory>;
  };
}
