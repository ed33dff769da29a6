# R CMD check entry point; CI uses run-tests.R (it prints a summary line).
library(testthat)
library(nws)
test_check("nws")
