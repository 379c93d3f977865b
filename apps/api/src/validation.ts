import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/**
 * A route's `validatorCompiler` that checks with TypeBox's compiler instead of Fastify's default
 * Ajv, which coerces types (`{"username": true}` would become "true", `0` against
 * `integer | null` becomes null) and silently strips unknown properties: a wrong type or an
 * unknown property is a VALIDATION_FAILED naming the first failing path.
 */
export function strictValidator({ schema }: Parameters<FastifySchemaCompiler<unknown>>[0]): ReturnType<FastifySchemaCompiler<unknown>> {
  const check = TypeCompiler.Compile(schema as TSchema);
  return (value: unknown) => {
    if (check.Check(value)) return { value };
    const first = check.Errors(value).First();
    return { error: [{ keyword: 'typebox', instancePath: first?.path ?? '', schemaPath: '', params: {}, message: first?.message ?? 'is invalid' }] };
  };
}
