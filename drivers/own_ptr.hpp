// OwnPtr<T>: sole ownership of a heap object, for the private state of public classes (pimpl).
// std::unique_ptr would do the same, but every std::unique_ptr<X> a public header names is a
// class template instantiation that each user's translation unit compiles (about 25 million
// instructions of g++ apiece); this one costs next to nothing until its members are used, which
// happens in the library's .cpp files, where T is complete.
#pragma once

namespace orm::detail {

template <class T>
class OwnPtr {
public:
    OwnPtr() noexcept = default;
    explicit OwnPtr(T* p) noexcept : p_(p) {}
    OwnPtr(OwnPtr&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
    // From an OwnPtr of a derived class (T needs a virtual destructor then).
    template <class U>
    OwnPtr(OwnPtr<U>&& o) noexcept : p_(o.release()) {}
    OwnPtr& operator=(OwnPtr&& o) noexcept {
        T* p = o.p_;
        o.p_ = nullptr;
        reset(p);
        return *this;
    }
    OwnPtr(const OwnPtr&) = delete;
    OwnPtr& operator=(const OwnPtr&) = delete;
    ~OwnPtr() { delete p_; }

    void reset(T* p = nullptr) noexcept {
        T* old = p_;
        p_ = p;
        delete old;
    }
    T* release() noexcept {
        T* p = p_;
        p_ = nullptr;
        return p;
    }
    T* get() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    T* operator->() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    T* p_ = nullptr;
};

// make_own<T>(args...): an OwnPtr to a new T(args...), as std::make_unique.
template <class T, class... A>
OwnPtr<T> make_own(A&&... args) {
    return OwnPtr<T>(new T(static_cast<A&&>(args)...));
}

}  // namespace orm::detail
