/**
 * What a command fails with: @dse/launcher's LaunchError (a message for the user, printed on stderr
 * as `dse <verb>: <message>`, and the exit code: 1 the command failed, 2 bad usage). The CLI's
 * commands and the launcher they drive fail with one type, so nothing needs translating.
 */
import { LaunchError } from "@dse/launcher"

export type CliError = LaunchError.LaunchError
export const CliError = LaunchError.LaunchError
export const fail = LaunchError.fail
export const usage = LaunchError.usage
export const describe = LaunchError.describe
