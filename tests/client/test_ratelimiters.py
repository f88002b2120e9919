"""Retry delays as client-go's default_rate_limiters_test.go expects them."""

from kybernetes.client import clock as clocks
from kybernetes.client import ratelimiters


def test_item_exponential_failure_doubles_per_item_and_forget_resets():
    rl = ratelimiters.ItemExponentialFailureRateLimiter(0.001, 1.0)
    assert [rl.when("one") for _ in range(5)] == [0.001, 0.002, 0.004, 0.008, 0.016]
    assert rl.num_requeues("one") == 5
    assert rl.when("two") == 0.001
    assert rl.num_requeues("two") == 1
    rl.forget("one")
    assert rl.num_requeues("one") == 0
    assert rl.when("one") == 0.001


def test_item_exponential_failure_caps_at_max_and_never_overflows():
    rl = ratelimiters.ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [rl.when("x") for _ in range(200)]
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert delays[18] == 1000.0 and delays[17] < 1000.0  # 5ms * 2**18 > 1000s


def test_token_bucket_burst_then_queues_reservations():
    clk = clocks.FakeClock()
    bucket = ratelimiters.TokenBucket(10.0, 3, clk)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert abs(bucket.reserve() - 0.1) < 1e-9
    assert abs(bucket.reserve() - 0.2) < 1e-9
    clk.step(0.2)
    assert abs(bucket.reserve() - 0.1) < 1e-9


def test_token_bucket_try_accept_refills_up_to_burst():
    clk = clocks.FakeClock()
    bucket = ratelimiters.TokenBucket(1.0, 2, clk)
    assert bucket.try_accept() and bucket.try_accept()
    assert not bucket.try_accept()
    clk.step(1.0)
    assert bucket.try_accept()
    clk.step(100.0)
    assert bucket.try_accept() and bucket.try_accept() and not bucket.try_accept()


def test_default_controller_rate_limiter_is_max_of_item_and_bucket():
    clk = clocks.FakeClock()
    rl = ratelimiters.default_controller_rate_limiter(clk)
    assert rl.when("a") == 0.005
    assert rl.when("a") == 0.01
    for i in range(98):  # drain the 100-token burst
        rl.when(f"other-{i}")
    # The bucket now asks 0.1 s per token, more than b's first per-item 5 ms.
    assert abs(rl.when("b") - 0.1) < 1e-9
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0
