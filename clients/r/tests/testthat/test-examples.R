# Our R example programs (examples/r), run as separate R processes against
# the test server.

example_file <- function(name) {
  f <- file.path(nws_root(), "examples", "r", name)
  if (!file.exists(f)) skip(paste("no example", f))
  f
}

test_that("hello.R stores and fetches its counter and says Success", {
  r <- run_r(example_file("hello.R"), c("127.0.0.1", test_port()))
  expect_equal(r$status, 0, info = r$stderr)
  expect_match(r$stdout, "hello: iterations: 10")
  expect_match(r$stdout, "Success")
})

test_that("ping.R and pong.R play ping-pong between two R processes", {
  ping <- start_r(example_file("ping.R"), c("127.0.0.1", test_port(), "2"))
  on.exit(if (ping$is_alive()) ping$kill())
  wait_for_line(ping, "Ping-pong server ping-pong starting")
  first <- run_r(example_file("pong.R"), c("127.0.0.1", test_port(), "5"))
  expect_equal(first$status, 0, info = first$stderr)
  expect_match(first$stdout, "Starting a ping-pong game 0")
  expect_equal(sum(grepl("^pong", strsplit(first$stdout, "\n")[[1]])), 5)
  second <- run_r(example_file("pong.R"), c("127.0.0.1", test_port(), "3"))
  expect_match(second$stdout, "Starting a ping-pong game 1")
  expect_equal(sum(grepl("^pong", strsplit(second$stdout, "\n")[[1]])), 3)
  ping$wait(20000)
  out <- paste(ping$read_all_output(), collapse = "")
  expect_match(out, "played 2 games")
  expect_equal(ping$get_exit_status(), 0)
})
