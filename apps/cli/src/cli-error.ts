export {
  ApiError,
  CliError,
  type CliErrorOptions,
  ExitCode,
  isCliError,
  usageError,
  type ValidationIssue,
} from "@sluice/client";
