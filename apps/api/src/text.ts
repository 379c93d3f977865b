import { checkText } from '@live/events';
import { ApiError } from './errors.js';

/**
 * Validates and normalises user-supplied text (display names, titles, bios) with the shared
 * rules of `@live/events` {@link checkText}: NFC, trimmed, no lone surrogates, control or
 * invisible spoofing characters, length in code points.
 * @param field the field's name, for the error message.
 * @throws ApiError VALIDATION_FAILED naming the field and the rule broken.
 */
export function cleanText(input: string, field: string, opts: { min?: number; max: number; multiline?: boolean }): string {
  const r = checkText(input, field, opts);
  if (!r.ok) throw new ApiError('VALIDATION_FAILED', r.message);
  return r.text;
}
