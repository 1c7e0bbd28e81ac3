// Result<T> and Error: how every fallible operation in herd reports failure.
//
// An Error carries the operation, the object it acted on and the errno (0 when
// the failure is not a syscall's), so that a message reaching the user reads
// like `mount overlay on /tmp/herd/3/fs: Invalid argument (EINVAL)`.
// Messages that minimega's clients match byte for byte (`vm not found: foo`)
// are built with Error::msg() and carry no errno.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace herd {

class Error {
  public:
    Error() = default;

    // A plain message, shown verbatim (used for minimega-compatible texts).
    static Error msg(std::string text) {
        Error e;
        e.text_ = std::move(text);
        return e;
    }

    // A failed syscall: "<op> <object>: <strerror> (<ERRNO>)".
    static Error sys(int err, std::string op, std::string object = {});

    // The errno captured now.
    static Error sysNow(std::string op, std::string object = {}) {
        return sys(errno, std::move(op), std::move(object));
    }

    // A message composed elsewhere (another process) with its errno.
    static Error withErrno(int err, std::string text) {
        Error e;
        e.text_ = std::move(text);
        e.errno_ = err;
        return e;
    }

    int errnum() const { return errno_; }
    const std::string& text() const { return text_; }

    // Prefix with context: Error("x").wrap("launch foo") -> "launch foo: x".
    Error wrap(const std::string& context) const {
        Error e = *this;
        e.text_ = context + ": " + text_;
        return e;
    }

  private:
    std::string text_;
    int errno_ = 0;
};

// Symbolic errno name ("EINVAL"), or the number when unknown.
std::string errnoName(int err);

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error err) : v_(std::move(err)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error err) : err_(std::move(err)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }

  private:
    Error err_;
    bool ok_ = true;
};

inline Result<void> Ok() {
    return {};
}

}  // namespace herd

// Propagate an error from an expression returning Result<...>.
#define HERD_TRY(expr)                                     \
    do {                                                   \
        auto herd_try_r_ = (expr);                         \
        if (!herd_try_r_.ok()) return herd_try_r_.error(); \
    } while (0)
