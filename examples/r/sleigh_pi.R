# sleigh_pi: a Monte Carlo estimate of pi in R. Each task throws DARTS random
# points at the unit square and counts those inside the quarter circle; the
# task number is its seed, so the estimate is the same for any number of
# workers.
#
#   Rscript sleigh_pi.R [workers [tasks [darts]]]
library(nws)

args <- as.integer(commandArgs(TRUE))
workers <- if (length(args) >= 1) args[[1]] else 3L
tasks <- if (length(args) >= 2) args[[2]] else 40L
darts <- if (length(args) >= 3) args[[3]] else 25000L

hits <- function(seed, darts) {
  set.seed(seed)
  x <- runif(darts)
  y <- runif(darts)
  sum(x * x + y * y <= 1)
}

s <- sleigh(workerCount = workers)
counts <- unlist(eachElem(s, hits, seq_len(tasks), list(darts)))
stopSleigh(s)
total <- tasks * darts
cat(sprintf("darts: %d, inside: %d\n", total, sum(counts)))
cat(sprintf("pi is about %.4f\n", 4 * sum(counts) / total))
