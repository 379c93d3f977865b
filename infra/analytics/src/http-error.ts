/**
 * Errors of the ClickHouse HTTP interface (`http-server.ts`), answered the way a ClickHouse
 * server answers them: the body `Code: <code>. DB::Exception: <message> (<TYPE>)`, the header
 * `X-ClickHouse-Exception-Code`, and the HTTP status ClickHouse maps the code to.
 */

/**
 * An error answered in ClickHouse's format. `code` and `type` are ClickHouse's error code and
 * name (ClickHouse `src/Common/ErrorCodes.cpp`), e.g. `62` / `SYNTAX_ERROR`.
 */
export class ClickHouseHttpError extends Error {
  /**
   * @param code ClickHouse error code, e.g. 164.
   * @param type ClickHouse error name, e.g. `READONLY`.
   * @param message the text after `DB::Exception: `: one line, never a stack trace.
   * @param status HTTP status; default: what ClickHouse answers for `code` ({@link httpStatusOfCode}).
   */
  constructor(readonly code: number, readonly type: string, message: string, readonly status = httpStatusOfCode(code)) {
    super(message);
  }
}

/**
 * Codes ClickHouse answers with 400: BAD_ARGUMENTS, CANNOT_COMPILE_REGEXP, the CANNOT_PARSE_*
 * family (TEXT, ESCAPE_SEQUENCE, QUOTED_STRING, DATE, DATETIME, NUMBER, DOMAIN_VALUE_FROM_STRING,
 * IPV4, IPV6, INPUT_ASSERTION_FAILED, UUID), DUPLICATE_COLUMN, ILLEGAL_COLUMN,
 * UNKNOWN_ELEMENT_IN_AST, UNKNOWN_TYPE_OF_AST_NODE, THERE_IS_NO_COLUMN, TOO_DEEP_AST, TOO_BIG_AST,
 * UNEXPECTED_AST_STRUCTURE, SYNTAX_ERROR, INCORRECT_DATA, TYPE_MISMATCH,
 * VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE.
 */
const BAD_REQUEST_CODES: ReadonlySet<number> = new Set([
  36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321,
]);
/**
 * Codes ClickHouse answers with 404: UNKNOWN_TABLE, UNKNOWN_FUNCTION, UNKNOWN_IDENTIFIER,
 * UNKNOWN_TYPE, UNKNOWN_STORAGE, UNKNOWN_DATABASE, UNKNOWN_SETTING,
 * UNKNOWN_DIRECTION_OF_SORTING, UNKNOWN_AGGREGATE_FUNCTION, UNKNOWN_FORMAT,
 * UNKNOWN_DATABASE_ENGINE, UNKNOWN_TYPE_OF_QUERY, UNKNOWN_ROLE.
 */
const NOT_FOUND_CODES: ReadonlySet<number> = new Set([60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511]);

/**
 * The HTTP status ClickHouse answers an error `code` with (ClickHouse
 * `src/Server/HTTP/exceptionCodeToHTTPStatus.cpp`): 401 for REQUIRED_PASSWORD (194); 403 for
 * UNKNOWN_USER (192), WRONG_PASSWORD (193), AUTHENTICATION_FAILED (516), SET_NON_GRANTED_ROLE
 * (512), ACCESS_DENIED (497); 400 for syntax and parse errors; 404 for unknown tables,
 * functions, settings, formats, databases; 413 for QUERY_IS_TOO_LARGE (229); 501 for
 * NOT_IMPLEMENTED (48); 503 for SOCKET_TIMEOUT (209) and CANNOT_OPEN_FILE (76); 408 for
 * TIMEOUT_EXCEEDED (159); 500 for everything else, READONLY (164) included.
 */
export function httpStatusOfCode(code: number): number {
  if (code === 194) return 401;
  if (code === 192 || code === 193 || code === 516 || code === 512 || code === 497) return 403;
  if (BAD_REQUEST_CODES.has(code)) return 400;
  if (NOT_FOUND_CODES.has(code)) return 404;
  if (code === 229) return 413;
  if (code === 48) return 501;
  if (code === 209 || code === 76) return 503;
  if (code === 159) return 408;
  return 500;
}

/** The body ClickHouse answers an error with: `Code: N. DB::Exception: <message> (TYPE) (version <serverName>)\n`. */
export function clickHouseErrorBody(e: ClickHouseHttpError, serverName: string): string {
  return `Code: ${e.code}. DB::Exception: ${e.message.trim()} (${e.type}) (version ${serverName})\n`;
}
