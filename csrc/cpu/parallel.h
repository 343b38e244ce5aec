// CPU parallelism for the kernels: one persistent pool of worker threads.
//
// Threads are created once and reused, so per-thread workspaces (thread_local buffers of
// the sampler and RANSAC) survive from call to call instead of being reallocated (and
// page-faulted) by fresh threads on every call.  One job runs at a time; a call made
// from inside a job runs on the calling thread alone.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <vector>

namespace vo {

// Threads of a call that asks for 0 (the default): VO_NUM_THREADS when it is set to a positive
// integer (read once; vo-batch sets it so that N worker processes share the cores), else the
// hardware's count.
inline int default_threads() {
  static const int n = [] {
    const char* env = std::getenv("VO_NUM_THREADS");
    if (env != nullptr) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && v > 0 && v <= 4096) return static_cast<int>(v);
    }
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return n;
}

inline int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return default_threads();
}

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static std::once_flag once;
    std::call_once(once, [] {
      current() = new ThreadPool();  // never destroyed: workers may outlive static teardown
      // A forked child has none of the workers: it starts a fresh pool.
      pthread_atfork(nullptr, nullptr, [] { current() = new ThreadPool(); });
    });
    return *current();
  }

  // Threads a team can have here: 1 inside a job (nested calls run on the calling thread).
  static int team_size(int threads) { return in_job() ? 1 : threads; }

  // Run fn(tid) once for each tid in [0, n) concurrently: the caller is tid 0, pool
  // workers the others.  All n run at the same time (a team may synchronise on a barrier).
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 1 || in_job()) {
      fn(0);
      return;
    }
    std::lock_guard<std::mutex> job(job_mutex_);  // one job at a time
    {
      std::unique_lock<std::mutex> lock(m_);
      while (static_cast<int>(workers_.size()) < n - 1) {
        const int tid = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, tid]() { loop(tid); });
        workers_.back().detach();
      }
      fn_ = &fn;
      active_ = n;
      pending_ = n - 1;
      ++generation_;
    }
    wake_.notify_all();
    in_job() = true;
    fn(0);
    in_job() = false;
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  ThreadPool() = default;

  static ThreadPool*& current() {
    static ThreadPool* pool = nullptr;
    return pool;
  }

  static bool& in_job() {
    thread_local bool flag = false;
    return flag;
  }

  void loop(int tid) {
    in_job() = true;
    int64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    while (true) {
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (tid >= active_) continue;  // not needed this time
      const std::function<void(int)>* fn = fn_;
      lock.unlock();
      (*fn)(tid);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex job_mutex_, m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* fn_ = nullptr;
  int active_ = 0, pending_ = 0;
  int64_t generation_ = 0;
};

// Run fn(thread_id, n_threads) on `threads` threads at once (the caller is thread 0);
// `threads` from ThreadPool::team_size.
template <class Fn>
void run_team(int threads, Fn fn) {
  if (threads <= 1) {
    fn(0, 1);
    return;
  }
  ThreadPool::instance().run(threads, [&](int tid) { fn(tid, threads); });
}

// fn(i) for i in [0, n) on up to `threads` threads; items are handed out one by one.
template <class Fn>
void parallel_for(int64_t n, int threads, Fn fn) {
  threads = static_cast<int>(std::min<int64_t>(resolve_threads(threads), n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  ThreadPool::instance().run(threads, [&](int) {
    for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  });
}

// Reusable barrier for a fixed number of threads (C++17 has no std::barrier).
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen != gen_; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0;
  int64_t gen_ = 0;
};

}  // namespace vo
