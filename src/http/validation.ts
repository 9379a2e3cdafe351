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
 */
import AjvCompiler from "@fastify/ajv-compiler";

type ValidatorFactory = AjvCompiler.BuildCompilerFromPool;
type RouteSchema = { schema: unknown; httpPart?: string };

/** The request parts whose values arrive as strings and are coerced to their schema's types. */
const STRING_PARTS = new Set(["querystring", "params", "headers"]);

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
    const compile = (route: RouteSchema) =>
      (STRING_PARTS.has(route.httpPart ?? "") ? coercing : strict)(route);
    // Fastify calls it with the route definition ({ schema, method, url, httpPart }), which the
    // pool's compilers take too, whatever their declared type says.
    return compile as unknown as ReturnType<ValidatorFactory>;
  };
}
