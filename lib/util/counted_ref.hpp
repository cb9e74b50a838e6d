#pragma once
// A counted reference to an object with ref()/unref() (a TLS context, a memory budget) that
// copies with whatever holds it: every copy shares the object, and the last unref frees it.
// One loop thread: the objects count without atomics.

namespace eddy {

template <class T>
class CountedRef {
public:
    CountedRef() = default;
    // Takes over the reference `obj` was created with (nullptr: none).
    static CountedRef adopt(T *obj) {
        CountedRef r;
        r.obj_ = obj;
        return r;
    }
    CountedRef(const CountedRef &o) : obj_(o.obj_) {
        if (obj_) obj_->ref();
    }
    CountedRef &operator=(const CountedRef &o) {
        if (o.obj_) o.obj_->ref();
        if (obj_) obj_->unref();
        obj_ = o.obj_;
        return *this;
    }
    ~CountedRef() {
        if (obj_) obj_->unref();
    }
    // Holds `obj` with a new reference of its own (nullptr: nothing).
    void reset(T *obj) {
        if (obj) obj->ref();
        if (obj_) obj_->unref();
        obj_ = obj;
    }
    T *get() const { return obj_; }

private:
    T *obj_ = nullptr;
};

}  // namespace eddy
