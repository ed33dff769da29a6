# The test driver for CI: runs tests/testthat against the installed package
# and ends with one plain line that CI reads,
#   testthat: N passed, N failed, N skipped
# (counting test_that() blocks), exiting non-zero if any test failed.
#
#   Rscript clients/r/tests/run-tests.R [filter]
#
# Environment: NWS_SERVER_BIN (the nws-server binary; default
# <root>/target/release/nws-server, or under $CARGO_TARGET_DIR), NWS_ROOT.
# processx (which starts the server and the R programs) replaces the
# SIGCHLD handler parallel uses to reap mclapply children; this tells it to
# pass the signal on (r-lib/processx#236), so no zombies are left behind.
Sys.setenv(PROCESSX_NOTIFY_OLD_SIGCHLD = "true")
suppressPackageStartupMessages(library(testthat))
# Plain progress lines in CI logs (no spinner redrawn in place).
options(cli.dynamic = FALSE)

args <- commandArgs(trailingOnly = TRUE)
filter <- if (length(args) >= 1) args[[1]] else NULL
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)[1])))
test_dir_path <- file.path(here, "testthat")
if (!nzchar(Sys.getenv("NWS_ROOT")))
  Sys.setenv(NWS_ROOT = normalizePath(file.path(here, "..", "..", "..")))

res <- testthat::test_dir(test_dir_path, filter = filter, package = "nws",
                          load_package = "installed", stop_on_failure = FALSE,
                          stop_on_warning = FALSE,
                          reporter = testthat::ProgressReporter$new(show_praise = FALSE, update_interval = 1e9))
df <- as.data.frame(res)
failed <- sum(df$failed > 0 | df$error)
skipped <- sum(df$skipped & !(df$failed > 0 | df$error))
passed <- nrow(df) - failed - skipped
cat(sprintf("\ntestthat: %d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1 else 0, save = "no")
