/** Answers shared by the routes. */
import type { FastifyReply } from "fastify";

/**
 * Sends 204 with no payload at all (not the JSON `null` of a `Type.Null()` response schema, which a
 * route typed by its schema would have to pass to `send`). The handler then returns nothing: the
 * answer is already on its way.
 */
export function noContent(reply: FastifyReply): void {
  reply.status(204).send();
}

/**
 * Sends JSON that is already serialised (by `reply.serializeInput` with the route's response
 * schema, so it is what the schema allows): Fastify sends a string as it is.
 */
export function sendSerialized(reply: FastifyReply, json: string): void {
  reply.type("application/json; charset=utf-8").send(json);
}
