// StatementCache: a small LRU map from SQL text to a driver's prepared statement handle.
// Both drivers key their caches by the exact SQL text, so queries of the same shape hit.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "drivers/connection.hpp"
#include "drivers/hints.hpp"

namespace orm::db {

template <class Handle>
class StatementCache {
public:
    // `evict` is called with each handle dropped to make room (e.g. to finalize or DEALLOCATE it).
    explicit StatementCache(std::size_t capacity, std::function<void(Handle&)> evict = {})
        : capacity_(capacity), evict_(std::move(evict)) {}
    StatementCache(const StatementCache&) = delete;
    StatementCache& operator=(const StatementCache&) = delete;
    ~StatementCache() { clear(); }

    // The cached handle for `sql`, or nullptr (counted as a miss). A hit moves it to the front.
    Handle* find(std::string_view sql) {
        // The statement used last is at the front: a loop running one statement (the common
        // case: a get by key, a batch of inserts) then costs one string compare, no hashing.
        if (!entries_.empty() && entries_.front().first == sql) {
            ++hits_;
            return &entries_.front().second;
        }
        return find_behind_front(sql);
    }

    // The cached handle for `sql` without counting a hit or miss or moving it (nullptr if absent).
    Handle* peek(std::string_view sql) {
        if (!entries_.empty() && entries_.front().first == sql) return &entries_.front().second;
        auto it = index_.find(sql);
        return it == index_.end() ? nullptr : &it->second->second;
    }

    // Stores a handle for `sql` (capacity 0 evicts it at once) and returns where it now lives.
    Handle* insert(std::string_view sql, Handle h) {
        if (capacity_ == 0) {
            if (evict_) evict_(h);
            return nullptr;
        }
        while (entries_.size() >= capacity_) {
            auto& last = entries_.back();
            if (evict_) evict_(last.second);
            index_.erase(std::string_view(last.first));
            entries_.pop_back();
        }
        entries_.emplace_front(std::string(sql), std::move(h));
        index_.emplace(std::string_view(entries_.front().first), entries_.begin());
        return &entries_.front().second;
    }

    // Drops the entry for `sql` (calling evict) if present.
    void erase(std::string_view sql) {
        auto it = index_.find(sql);
        if (it == index_.end()) return;
        if (evict_) evict_(it->second->second);
        auto list_it = it->second;
        index_.erase(it);
        entries_.erase(list_it);
    }

    // Drops everything; `run_evict` false forgets handles without calling evict (a dead connection).
    void clear(bool run_evict = true) {
        if (run_evict && evict_)
            for (auto& e : entries_) evict_(e.second);
        index_.clear();
        entries_.clear();
    }

    std::size_t size() const { return entries_.size(); }
    StatementCacheStats stats() const { return {hits_, misses_, entries_.size(), capacity_}; }

private:
    // find() past the front entry: the index (out of line, so find() stays small where it is inlined).
    WEFT_NOINLINE Handle* find_behind_front(std::string_view sql) {
        auto it = index_.find(sql);
        if (it == index_.end()) {
            ++misses_;
            return nullptr;
        }
        ++hits_;
        entries_.splice(entries_.begin(), entries_, it->second);
        return &it->second->second;
    }

    using Entry = std::pair<std::string, Handle>;
    std::size_t capacity_;
    std::function<void(Handle&)> evict_;
    std::list<Entry> entries_;
    std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
    std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace orm::db
