// Tensor: creation, views without copies, contiguity, broadcasting, dtypes, errors.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <omp.h>

#include "relprop/tensor/parallel.hpp"
#include "relprop/tensor/tensor.hpp"

using namespace relprop;

namespace {
Tensor iota(Shape shape) {
  Tensor t = Tensor::empty(std::move(shape));
  for (std::int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, static_cast<double>(i));
  return t;
}
std::vector<double> vals(const Tensor& t) { return t.to_vector_f64(); }
}  // namespace

TEST_SUITE("tensor") {
  TEST_CASE("creation / shape / strides / 64-byte aligned owned storage") {
    const Tensor t = Tensor::zeros({2, 3, 4});
    CHECK(t.dim() == 3);
    CHECK(t.numel() == 24);
    CHECK(t.strides() == Shape{12, 4, 1});
    CHECK(t.size(-1) == 4);
    CHECK(t.is_contiguous());
    CHECK(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64 == 0);
    CHECK(t.storage()->owned());
    CHECK(Tensor::scalar(2.5).item() == 2.5);
    CHECK(Tensor::scalar(2.5).dim() == 0);
    CHECK(Tensor::full({2}, 7, DType::I64).get({1}) == 7.0);
    CHECK(Tensor::zeros({0, 3}).numel() == 0);
    CHECK_THROWS_AS(Tensor::from_vector({1.f, 2.f}, {3}), ShapeError);
    CHECK_THROWS_AS(Tensor::zeros({-1}), ShapeError);
    CHECK_THROWS_AS(Tensor::zeros({std::numeric_limits<std::int64_t>::max(), 4}), ShapeError);
  }

  TEST_CASE("views share storage and never copy") {
    const Tensor t = iota({2, 3});
    const Tensor tt = t.transpose(0, 1);
    CHECK(tt.shares_storage_with(t));
    CHECK(tt.shape() == Shape{3, 2});
    CHECK(!tt.is_contiguous());
    CHECK(vals(tt) == std::vector<double>{0, 3, 1, 4, 2, 5});
    const Tensor p = iota({2, 3, 4}).permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.get({1, 1, 2}) == 1 + 12 + 8);
    const Tensor r = t.reshape({3, 2});
    CHECK(r.shares_storage_with(t));
    CHECK(r.get({2, 1}) == 5);
    CHECK(t.view({6}).shares_storage_with(t));
    CHECK(t.flatten().shape() == Shape{6});
    t.view({3, 2}).set_flat(0, 42);  // writes through the view
    CHECK(t.get({0, 0}) == 42);
  }

  TEST_CASE("slice / select / squeeze / unsqueeze") {
    const Tensor t = iota({4, 5});
    const Tensor s = t.slice(1, 1, 5, 2);  // columns 1, 3
    CHECK(s.shape() == Shape{4, 2});
    CHECK(s.shares_storage_with(t));
    CHECK(vals(s.select(0, 2)) == std::vector<double>{11, 13});
    CHECK(t.slice(0, -1, std::numeric_limits<std::int64_t>::max()).shape() == Shape{1, 5});
    CHECK(t.slice(0, 3, 1).numel() == 0);
    CHECK_THROWS_AS(t.slice(0, 0, 2, 0), ValueError);
    CHECK_THROWS_AS(t.select(0, 4), IndexError);
    const Tensor u = t.unsqueeze(0).unsqueeze(-1);
    CHECK(u.shape() == Shape{1, 4, 5, 1});
    CHECK(u.squeeze().shape() == Shape{4, 5});
    CHECK(u.squeeze(0).shape() == Shape{4, 5, 1});
    CHECK(u.squeeze(1).shape() == Shape{1, 4, 5, 1});  // size 4: unchanged
    CHECK_THROWS_AS(t.unsqueeze(3), IndexError);
  }

  TEST_CASE("expand uses stride 0 and follows NumPy broadcasting") {
    const Tensor col = Tensor::from_vector({1.f, 2.f}, {2, 1});
    const Tensor e = col.expand({3, 2, 4});
    CHECK(e.strides()[0] == 0);
    CHECK(e.strides()[2] == 0);
    CHECK(e.get({2, 1, 3}) == 2);
    CHECK(e.shares_storage_with(col));
    CHECK(col.expand({-1, 3}).shape() == Shape{2, 3});
    CHECK_THROWS_AS(col.expand({3, 4}), ShapeError);
    CHECK(broadcast_shapes(Shape{3, 1, 5}, Shape{4, 1}) == Shape{3, 4, 5});
    CHECK(broadcast_shapes(Shape{}, Shape{2, 2}) == Shape{2, 2});
    CHECK_THROWS_AS(broadcast_shapes(Shape{3, 2}, Shape{4, 2}), ShapeError);
  }

  TEST_CASE("contiguous copies only when needed / reshape copies only when no view exists") {
    const Tensor t = iota({3, 4});
    CHECK(t.contiguous().shares_storage_with(t));
    const Tensor tt = t.transpose(0, 1);
    const Tensor c = tt.contiguous();
    CHECK(!c.shares_storage_with(t));
    CHECK(c.is_contiguous());
    CHECK(vals(c) == vals(tt));
    CHECK_THROWS_AS(tt.view({12}), ShapeError);
    const Tensor r = tt.reshape({12});
    CHECK(!r.shares_storage_with(t));
    CHECK(vals(r) == vals(c));
    // Merging dims that are contiguous among themselves is a view even in a strided tensor.
    const Tensor s = iota({2, 3, 4}).slice(0, 1, 2);
    CHECK(s.view({12}).shares_storage_with(s));
    CHECK(s.reshape({1, 3, 2, 2}).get({0, 2, 1, 1}) == 12 + 8 + 3);
    CHECK(t.reshape({-1, 6}).shape() == Shape{2, 6});
    CHECK_THROWS_AS(t.reshape({5, -1}), ShapeError);
    CHECK_THROWS_AS(t.reshape({-1, -1}), ShapeError);
  }

  TEST_CASE("dtype conversions: F64 / F16 / BF16 / integers / bool") {
    const Tensor f = Tensor::from_vector({1.5f, -2.25f, 65504.f, 1e-8f, 0.1f}, {5});
    const Tensor h = f.to(DType::F16);
    CHECK(h.dtype() == DType::F16);
    CHECK(h.nbytes() == 10);
    CHECK(h.get({0}) == 1.5);
    CHECK(h.get({1}) == -2.25);
    CHECK(h.get({2}) == 65504.0);
    CHECK(h.get({3}) == doctest::Approx(1e-8).epsilon(0.05));  // subnormal half
    CHECK(h.get({4}) == doctest::Approx(0.1).epsilon(1e-3));
    const Tensor b = f.to(DType::BF16);
    CHECK(b.get({1}) == -2.25);
    CHECK(b.get({4}) == doctest::Approx(0.1).epsilon(1e-2));
    CHECK(half_to_float(float_to_half(std::numeric_limits<float>::infinity())) == INFINITY);
    CHECK(std::isnan(bf16_to_float(float_to_bf16(NAN))));
    CHECK(float_to_half(1e6f) == 0x7c00);  // overflow rounds to inf
    const Tensor i = Tensor::from_vector({-3.7f, 2.2f}, {2}).to(DType::I64);
    CHECK(i.data<std::int64_t>()[0] == -3);
    CHECK(i.to(DType::F64).get({1}) == 2.0);
    CHECK(Tensor::from_vector({0.f, 2.f}, {2}).to(DType::BOOL).get({1}) == 1.0);
    CHECK(Tensor::from_vector({7.f}, {1}).to(DType::U8).to(DType::I32).get({0}) == 7.0);
  }

  TEST_CASE("typed access checks dtype and bounds") {
    const Tensor t = iota({2, 2});
    CHECK_THROWS_AS(t.data<double>(), DtypeError);
    CHECK_THROWS_AS(t.get({2, 0}), IndexError);
    CHECK_THROWS_AS(t.get({0}), IndexError);
    CHECK_THROWS_AS(t.size(2), IndexError);
    CHECK(t.at<float>({1, 1}) == 3.f);
    CHECK(t.get({-1, -1}) == 3.0);
    CHECK_THROWS_AS(Tensor().data<float>(), ValueError);
    CHECK_THROWS_AS(t.permute({0, 0}), ShapeError);
    CHECK_THROWS_AS(iota({4}).item(), ShapeError);
  }

  TEST_CASE("copy_from broadcasts and converts / views over external storage are bounds-checked") {
    const Tensor dst = Tensor::zeros({2, 3}, DType::F64);
    dst.copy_from(Tensor::from_vector({1.f, 2.f, 3.f}, {3}));
    CHECK(vals(dst) == std::vector<double>{1, 2, 3, 1, 2, 3});
    CHECK_THROWS_AS(dst.copy_from(Tensor::zeros({2})), ShapeError);
    auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
    auto st = Storage::borrow(owner->data(), 16, owner);
    const Tensor v = Tensor::from_storage(st, {2, 2}, DType::F32);
    CHECK(!st->owned());
    CHECK(v.get({1, 0}) == 3);
    CHECK_THROWS_AS(Tensor::from_storage(st, {5}, DType::F32), ShapeError);
    CHECK_THROWS_AS(Tensor::from_storage(st, {2}, DType::F32, {}, 3), ShapeError);
  }

  TEST_CASE("copies keep the trace tag / views and fresh tensors drop it") {
    Tensor t = iota({2, 2});
    t.set_trace(TraceTag{5, 1});
    const Tensor copy = t;
    CHECK(copy.trace().tape == 5);
    CHECK(t.reshape({4}).trace().tape == 0);
    CHECK(t.clone().trace().tape == 0);
  }

  TEST_CASE("owned storage of every size is 64-byte aligned, zeroed when asked, and writable to its end") {
    // Blocks up to 32 KiB come from malloc aligned by hand, larger ones from the aligned
    // heap, and from 256 KiB the host cache: sizes on both sides of each boundary (in
    // floats: 8192 = 32 KiB; 65520 rounds to just under 256 KiB, 65536 is the first cached).
    for (std::int64_t n : {1, 3, 15, 16, 17, 63, 64, 1000, 4096, 8191, 8192, 8193, 65520, 65536, 65537, 100000}) {
      CAPTURE(n);
      {
        // Garbage in a block of this size, released, so that zeros() below is likely to
        // be handed the same memory again (malloc's bins, the host cache).
        Tensor g = Tensor::empty({n});
        float* q = g.data<float>();
        for (std::int64_t i = 0; i < n; ++i) q[i] = 3.0f;
      }
      Tensor z = Tensor::zeros({n});
      CHECK(reinterpret_cast<std::uintptr_t>(z.raw_data()) % 64 == 0);
      const float* zp = z.data<float>();
      CHECK(std::all_of(zp, zp + n, [](float v) { return v == 0.0f; }));
      Tensor e = Tensor::empty({n});
      CHECK(reinterpret_cast<std::uintptr_t>(e.raw_data()) % 64 == 0);
      float* p = e.data<float>();
      for (std::int64_t i = 0; i < n; ++i) p[i] = 1.0f;  // the last element too (ASan checks the bound)
      CHECK(sum_all(e) == static_cast<double>(n));
    }
  }

  TEST_CASE("sum_all: chunks of 8192 in order, eight double lanes each, tail last") {
    // Inexact values, so the order of the additions shows in the result; the order is
    // the documented one (the same for any thread count), written out here.
    for (std::int64_t n : {0, 1, 7, 8, 9, 8192, 8193, 16384, 16385, 24577, 100003}) {
      CAPTURE(n);
      Tensor t = Tensor::empty({n});
      float* p = t.data<float>();
      for (std::int64_t i = 0; i < n; ++i) p[i] = 1.0f / static_cast<float>(i % 1013 + 1) - 0.01f;
      double expect = 0;
      for (std::int64_t lo = 0; lo < n; lo += 8192) {
        const std::int64_t hi = std::min(n, lo + 8192);
        double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        std::int64_t i = lo;
        for (; i + 8 <= hi; i += 8)
          for (int k = 0; k < 8; ++k) lane[k] += p[i + k];
        double tail = 0;
        for (; i < hi; ++i) tail += p[i];
        expect += tail + ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
      }
      CHECK(sum_all(t) == expect);
    }
  }

  TEST_CASE("reductions and comparisons in double") {
    const Tensor a = Tensor::from_vector({1.f, 2.f, 3.f}, {3});
    CHECK(sum_all(a) == 6.0);
    CHECK(sum_all(a.to(DType::F64)) == 6.0);
    CHECK(max_abs_diff(a, Tensor::from_vector({1.f, 2.5f, 3.f}, {3})) == 0.5);
    CHECK_THROWS_AS(max_abs_diff(a, Tensor::zeros({2})), ShapeError);
    CHECK(shape_str(Shape{3}) == "(3,)");
    CHECK(shape_str(Shape{2, 3}) == "(2, 3)");
  }
}

TEST_SUITE("tensor.parallel_for") {
  TEST_CASE("both paths visit every index once; the serial one never enters OpenMP") {
    for (bool parallel : {false, true}) {
      CAPTURE(parallel);
      std::vector<int> hits(10007, 0), level(10007, -1);
      detail::parallel_for(static_cast<std::int64_t>(hits.size()), parallel, [&](std::int64_t i) {
        ++hits[i];
        level[i] = omp_get_level();
      });
      CHECK(std::count(hits.begin(), hits.end(), 1) == static_cast<std::ptrdiff_t>(hits.size()));
      // Serial: no region at all (level 0); parallel: inside one (level 1).
      CHECK(std::count(level.begin(), level.end(), parallel ? 1 : 0) == static_cast<std::ptrdiff_t>(level.size()));
      std::vector<int> pairs(37 * 53, 0);
      detail::parallel_for2(37, 53, parallel, [&](std::int64_t i, std::int64_t j) { pairs[i * 53 + j] += 1 + static_cast<int>(i); });
      for (std::int64_t i = 0; i < 37; ++i)
        for (std::int64_t j = 0; j < 53; ++j) CHECK(pairs[i * 53 + j] == 1 + i);
    }
    int calls = 0;
    detail::parallel_for(0, true, [&](std::int64_t) { ++calls; });
    detail::parallel_for2(0, 5, false, [&](std::int64_t, std::int64_t) { ++calls; });
    detail::parallel_for2(5, 0, true, [&](std::int64_t, std::int64_t) { ++calls; });
    CHECK(calls == 0);  // empty ranges
  }
}

TEST_SUITE("tensor.host_cache") {
  TEST_CASE("large blocks are reused after release / zeros() from a reused block is zero") {
    host_cache_release();
    CHECK(host_cache_bytes() == 0);
    const Shape big{1 << 18};  // 1 MiB of float32
    {
      Tensor t = Tensor::empty(big);
      float* p = t.data<float>();
      for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = 7.0f;  // garbage for the next owner
    }
    const std::size_t cached = host_cache_bytes();
    // 0 when caching is off (AddressSanitizer builds, RELPROP_HOST_CACHE_MB=0).
    CHECK((cached == 0 || cached >= (std::size_t{1} << 20)));
    Tensor z = Tensor::zeros(big);
    CHECK(host_cache_bytes() == 0);  // the block went back out
    CHECK(sum_all(z) == 0.0);
    CHECK(z.get_flat(12345) == 0.0);
    Tensor small = Tensor::empty({16});  // small tensors never touch the cache
    CHECK(host_cache_bytes() == 0);
    host_cache_release();
  }
}
