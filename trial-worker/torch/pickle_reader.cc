#include "trial-worker/torch/pickle_reader.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tuner::worker::torchtrainer {
namespace {

std::string Shape(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

// Reads an int tuple (sizes, strides).
std::optional<std::vector<int64_t>> IntTuple(const PickleValue& v) {
  if (v.kind != PickleValue::Kind::kTuple && v.kind != PickleValue::Kind::kList) {
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (const PickleRef& item : v.items) {
    if (item->kind != PickleValue::Kind::kInt) return std::nullopt;
    out.push_back(item->int_value);
  }
  return out;
}

// The interpreter's state. Errors carry the byte offset of the opcode.
class Machine {
 public:
  Machine(std::string_view data, const PersistentLoader& load) : data_(data), load_(load) {}

  absl::StatusOr<PickleRef> Run() {
    while (pos_ < data_.size()) {
      const size_t at = pos_;
      const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
      if (op == '.') {  // STOP
        if (stack_.empty()) return Error(at, "STOP with an empty stack");
        return stack_.back();
      }
      absl::Status s = Step(op, at);
      if (!s.ok()) return s;
      // Each opcode makes at most one object and pushes at most one entry, so checking here
      // bounds the memory a pickle can take before the limit is noticed.
      if (made_ > kMaxPickleObjects) {
        return Error(at, absl::StrCat("too large: more than ", kMaxPickleObjects,
                                      " objects, far more than a state dict holds"));
      }
      if (stack_.size() > kMaxPickleStack) {
        return Error(at, absl::StrCat("too large: more than ", kMaxPickleStack,
                                      " entries on the stack"));
      }
    }
    return absl::InvalidArgumentError("pickle ends before STOP (truncated)");
  }

 private:
  PickleRef Make(PickleValue::Kind kind) {
    ++made_;
    auto value = std::make_shared<PickleValue>();
    value->kind = kind;
    if (kind == PickleValue::Kind::kTuple || kind == PickleValue::Kind::kList ||
        kind == PickleValue::Kind::kDict) {
      value->depth = 1;
    }
    return value;
  }

  PickleRef MakeInt(int64_t v) {
    PickleRef value = Make(PickleValue::Kind::kInt);
    value->int_value = v;
    return value;
  }

  PickleRef MakeString(std::string text) {
    PickleRef value = Make(PickleValue::Kind::kString);
    value->text = std::move(text);
    return value;
  }

  // Checks that `child` may go into `container` and records it there (the caller inserts).
  // A container that is already inside another may not change: python's pickler always
  // completes an object before it places it, except to build a cycle, and freezing
  // placed containers makes every depth final when it is recorded.
  absl::Status Adopt(size_t at, PickleValue& container, PickleValue& child) {
    if (container.contained || &container == &child) {
      return Error(at, "a list or dict is changed after it was placed in another (a cyclic "
                       "structure?), which a state dict never is");
    }
    container.depth = std::max(container.depth, child.depth + 1);
    if (container.depth > kMaxPickleDepth) {
      return Error(at, absl::StrCat("too deeply nested: more than ", kMaxPickleDepth,
                                    " levels of lists, tuples or dicts"));
    }
    child.contained = true;
    return absl::OkStatus();
  }

  absl::Status Error(size_t at, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("pickle offset ", at, ": ", what));
  }

  bool Take(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  template <typename T>
  bool TakeLittle(T* out) {
    std::string_view bytes;
    if (!Take(sizeof(T), &bytes)) return false;
    std::memcpy(out, bytes.data(), sizeof(T));  // x86-64 and aarch64 are little-endian
    return true;
  }

  bool TakeLine(std::string* out) {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return false;
    *out = std::string(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }

  absl::StatusOr<PickleRef> Pop(size_t at) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) {
      return Error(at, "stack underflow");
    }
    PickleRef v = stack_.back();
    stack_.pop_back();
    return v;
  }

  // The items above the last MARK, removed from the stack along with the mark.
  absl::StatusOr<std::vector<PickleRef>> PopMark(size_t at) {
    if (marks_.empty()) return Error(at, "no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return items;
  }

  absl::Status Memo(size_t at, uint32_t index) {
    if (stack_.empty()) return Error(at, "PUT with an empty stack");
    memo_[index] = stack_.back();
    return absl::OkStatus();
  }

  absl::Status Get(size_t at, uint32_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return Error(at, absl::StrCat("GET of unknown memo ", index));
    stack_.push_back(it->second);
    return absl::OkStatus();
  }

  absl::Status Global(size_t at, const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    static const char* const kKnown[] = {"collections.OrderedDict",
                                         "torch._utils._rebuild_tensor_v2",
                                         "torch._utils._rebuild_parameter",
                                         "builtins.dict",
                                         "torch.jit._pickle.restore_type_tag"};
    bool known = StorageDtype(full).has_value();
    for (const char* k : kKnown) known = known || full == k;
    if (!known) return Error(at, absl::StrCat("unsupported global ", full));
    PickleRef g = Make(PickleValue::Kind::kGlobal);
    g->text = full;
    stack_.push_back(g);
    return absl::OkStatus();
  }

  absl::Status Reduce(size_t at) {
    absl::StatusOr<PickleRef> args = Pop(at);
    if (!args.ok()) return args.status();
    absl::StatusOr<PickleRef> func = Pop(at);
    if (!func.ok()) return func.status();
    if ((*func)->kind != PickleValue::Kind::kGlobal || (*args)->kind != PickleValue::Kind::kTuple) {
      return Error(at, "REDUCE needs a global and an argument tuple");
    }
    const std::string& f = (*func)->text;
    const std::vector<PickleRef>& a = (*args)->items;
    if (f == "collections.OrderedDict" || f == "builtins.dict") {
      stack_.push_back(Make(PickleValue::Kind::kDict));
      return absl::OkStatus();
    }
    if (f == "torch.jit._pickle.restore_type_tag") {  // torch::pickle_save's (value, type)
      if (a.empty()) return Error(at, "restore_type_tag without a value");
      stack_.push_back(a[0]);
      return absl::OkStatus();
    }
    if (f == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != PickleValue::Kind::kTensor) {
        return Error(at, "_rebuild_parameter without a tensor");
      }
      stack_.push_back(a[0]);
      return absl::OkStatus();
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
      if (a.size() < 4 || a[0]->kind != PickleValue::Kind::kStorage ||
          a[1]->kind != PickleValue::Kind::kInt) {
        return Error(at, "_rebuild_tensor_v2 with unexpected arguments (storage, offset, "
                         "size, stride, ...)");
      }
      std::optional<std::vector<int64_t>> size = IntTuple(*a[2]);
      std::optional<std::vector<int64_t>> stride = IntTuple(*a[3]);
      if (!size || !stride || size->size() != stride->size()) {
        return Error(at, "_rebuild_tensor_v2 with malformed size or stride");
      }
      if (size->size() > kMaxTensorDims) {
        return Error(at, absl::StrCat("tensor with ", size->size(), " dimensions (at most ",
                                      kMaxTensorDims, ")"));
      }
      const torch::Tensor& storage = a[0]->tensor;
      const int64_t offset = a[1]->int_value;
      for (size_t d = 0; d < size->size(); ++d) {
        if ((*size)[d] < 0 || (*stride)[d] < 0) {
          return Error(at, absl::StrCat("tensor size ", Shape(*size), " or stride ",
                                        Shape(*stride), " is negative"));
        }
      }
      std::optional<int64_t> numel = CheckedNumel(*size);
      if (!numel) return Error(at, absl::StrCat("tensor size ", Shape(*size), " overflows"));
      if (offset < 0) return Error(at, absl::StrCat("tensor offset ", offset, " is negative"));
      PickleRef t = Make(PickleValue::Kind::kTensor);
      if (*numel == 0) {
        t->tensor = torch::empty(*size, storage.options());
      } else {
        // The furthest element the view touches must lie inside the storage.
        int64_t last = offset;
        for (size_t d = 0; d < size->size(); ++d) {
          int64_t reach = 0;
          if (__builtin_mul_overflow((*size)[d] - 1, (*stride)[d], &reach) ||
              __builtin_add_overflow(last, reach, &last)) {
            return Error(at, absl::StrCat("tensor view ", Shape(*size), " with stride ",
                                          Shape(*stride), " overflows"));
          }
        }
        if (last >= storage.numel()) {
          return Error(at, absl::StrCat("tensor view ", Shape(*size), " with stride ",
                                        Shape(*stride), " at offset ", offset,
                                        " reaches element ", last, ", outside its storage of ",
                                        storage.numel(), " elements (truncated file?)"));
        }
        t->tensor = storage.as_strided(*size, *stride, offset);
      }
      stack_.push_back(t);
      return absl::OkStatus();
    }
    return Error(at, absl::StrCat("cannot call ", f));
  }

  absl::Status SetItems(size_t at, std::vector<PickleRef> items) {
    if (items.size() % 2 != 0) return Error(at, "SETITEMS with an odd number of items");
    if (stack_.empty() || stack_.back()->kind != PickleValue::Kind::kDict) {
      return Error(at, "SETITEM(S) on something that is not a dict");
    }
    PickleValue& dict = *stack_.back();
    for (size_t i = 0; i < items.size(); i += 2) {
      if (absl::Status s = Adopt(at, dict, *items[i]); !s.ok()) return s;
      if (absl::Status s = Adopt(at, dict, *items[i + 1]); !s.ok()) return s;
      dict.entries.emplace_back(items[i], items[i + 1]);
    }
    return absl::OkStatus();
  }

  template <typename Index>
  absl::Status MemoOp(size_t at, bool get) {
    Index i;
    if (!TakeLittle(&i)) return Error(at, "truncated operand");
    return get ? Get(at, i) : Memo(at, i);
  }

  template <typename Length>
  absl::Status PushString(size_t at) {
    Length n;
    std::string_view s;
    if (!TakeLittle(&n) || !Take(n, &s)) return Error(at, "truncated operand");
    stack_.push_back(MakeString(std::string(s)));
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status PushInt(size_t at) {
    Int v;
    if (!TakeLittle(&v)) return Error(at, "truncated operand");
    stack_.push_back(MakeInt(v));
    return absl::OkStatus();
  }

  absl::Status Step(uint8_t op, size_t at) {
    const auto truncated = [&] { return Error(at, "truncated operand"); };
    switch (op) {
      case 0x80: {  // PROTO
        uint8_t v;
        if (!TakeLittle(&v)) return truncated();
        if (v > 5) return Error(at, absl::StrCat("pickle protocol ", v, " is not supported"));
        return absl::OkStatus();
      }
      case 0x95: {  // FRAME
        uint64_t n;
        return TakeLittle(&n) ? absl::OkStatus() : truncated();
      }
      case 'c': {  // GLOBAL
        std::string module, name;
        if (!TakeLine(&module) || !TakeLine(&name)) return truncated();
        return Global(at, module, name);
      }
      case 0x93: {  // STACK_GLOBAL
        absl::StatusOr<PickleRef> name = Pop(at);
        if (!name.ok()) return name.status();
        absl::StatusOr<PickleRef> module = Pop(at);
        if (!module.ok()) return module.status();
        if ((*module)->kind != PickleValue::Kind::kString ||
            (*name)->kind != PickleValue::Kind::kString) {
          return Error(at, "STACK_GLOBAL needs a module and a name string");
        }
        return Global(at, (*module)->text, (*name)->text);
      }
      case 'q': return MemoOp<uint8_t>(at, /*get=*/false);   // BINPUT
      case 'r': return MemoOp<uint32_t>(at, /*get=*/false);  // LONG_BINPUT
      case 0x94:  // MEMOIZE
        return Memo(at, static_cast<uint32_t>(memo_.size()));
      case 'h': return MemoOp<uint8_t>(at, /*get=*/true);    // BINGET
      case 'j': return MemoOp<uint32_t>(at, /*get=*/true);   // LONG_BINGET
      case '}':
        stack_.push_back(Make(PickleValue::Kind::kDict));
        return absl::OkStatus();
      case ']':
        stack_.push_back(Make(PickleValue::Kind::kList));
        return absl::OkStatus();
      case ')':
        stack_.push_back(Make(PickleValue::Kind::kTuple));
        return absl::OkStatus();
      case '(':
        marks_.push_back(stack_.size());
        return absl::OkStatus();
      case 't': {  // TUPLE
        absl::StatusOr<std::vector<PickleRef>> items = PopMark(at);
        if (!items.ok()) return items.status();
        PickleRef t = Make(PickleValue::Kind::kTuple);
        for (const PickleRef& item : *items) {
          if (absl::Status s = Adopt(at, *t, *item); !s.ok()) return s;
        }
        t->items = std::move(*items);
        stack_.push_back(t);
        return absl::OkStatus();
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84;
        PickleRef t = Make(PickleValue::Kind::kTuple);
        t->items.resize(n);
        for (size_t i = n; i-- > 0;) {
          absl::StatusOr<PickleRef> v = Pop(at);
          if (!v.ok()) return v.status();
          if (absl::Status s = Adopt(at, *t, **v); !s.ok()) return s;
          t->items[i] = *v;
        }
        stack_.push_back(t);
        return absl::OkStatus();
      }
      case 'X':   // BINUNICODE
      case 'T':   // BINSTRING
      case 'B':   // BINBYTES
        return PushString<uint32_t>(at);
      case 0x8c:  // SHORT_BINUNICODE
      case 'U':   // SHORT_BINSTRING
      case 'C':   // SHORT_BINBYTES
        return PushString<uint8_t>(at);
      case 'J': return PushInt<int32_t>(at);   // BININT
      case 'K': return PushInt<uint8_t>(at);   // BININT1
      case 'M': return PushInt<uint16_t>(at);  // BININT2
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        uint8_t n;
        std::string_view s;
        if (!TakeLittle(&n) || !Take(n, &s)) return truncated();
        if (n > 8) return Error(at, "integer wider than 64 bits");
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
        if (n > 0 && n < 8 && (static_cast<uint8_t>(s[n - 1]) & 0x80)) v |= ~0ull << (8 * n);
        stack_.push_back(MakeInt(static_cast<int64_t>(v)));
        return absl::OkStatus();
      }
      case 'G': {  // BINFLOAT, big-endian
        std::string_view s;
        if (!Take(8, &s)) return truncated();
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(s[i]);
        PickleRef f = Make(PickleValue::Kind::kFloat);
        std::memcpy(&f->float_value, &bits, 8);
        stack_.push_back(f);
        return absl::OkStatus();
      }
      case 'N':
        stack_.push_back(Make(PickleValue::Kind::kNone));
        return absl::OkStatus();
      case 0x88:
      case 0x89: {
        PickleRef b = Make(PickleValue::Kind::kBool);
        b->int_value = op == 0x88;
        stack_.push_back(b);
        return absl::OkStatus();
      }
      case 'Q': {  // BINPERSID
        absl::StatusOr<PickleRef> pid = Pop(at);
        if (!pid.ok()) return pid.status();
        absl::StatusOr<PickleRef> storage = load_(**pid);
        if (!storage.ok()) return storage.status();
        if (*storage == nullptr || (*storage)->kind != PickleValue::Kind::kStorage) {
          return Error(at, "the persistent id loader returned something other than a storage");
        }
        stack_.push_back(*storage);
        return absl::OkStatus();
      }
      case 'R':
        return Reduce(at);
      case 'b': {  // BUILD: only the OrderedDict's _metadata state, which a state dict ignores
        absl::StatusOr<PickleRef> state = Pop(at);
        if (!state.ok()) return state.status();
        if (stack_.empty()) return Error(at, "BUILD with nothing to build");
        return absl::OkStatus();
      }
      case 's': {  // SETITEM
        absl::StatusOr<PickleRef> value = Pop(at);
        if (!value.ok()) return value.status();
        absl::StatusOr<PickleRef> key = Pop(at);
        if (!key.ok()) return key.status();
        return SetItems(at, {*key, *value});
      }
      case 'u': {  // SETITEMS
        absl::StatusOr<std::vector<PickleRef>> items = PopMark(at);
        if (!items.ok()) return items.status();
        return SetItems(at, std::move(*items));
      }
      case 'a': {  // APPEND
        absl::StatusOr<PickleRef> value = Pop(at);
        if (!value.ok()) return value.status();
        if (stack_.empty() || stack_.back()->kind != PickleValue::Kind::kList) {
          return Error(at, "APPEND to something that is not a list");
        }
        if (absl::Status s = Adopt(at, *stack_.back(), **value); !s.ok()) return s;
        stack_.back()->items.push_back(*value);
        return absl::OkStatus();
      }
      case 'e': {  // APPENDS
        absl::StatusOr<std::vector<PickleRef>> items = PopMark(at);
        if (!items.ok()) return items.status();
        if (stack_.empty() || stack_.back()->kind != PickleValue::Kind::kList) {
          return Error(at, "APPENDS to something that is not a list");
        }
        for (PickleRef& v : *items) {
          if (absl::Status s = Adopt(at, *stack_.back(), *v); !s.ok()) return s;
          stack_.back()->items.push_back(std::move(v));
        }
        return absl::OkStatus();
      }
      default:
        return Error(at, absl::StrCat("unsupported opcode 0x", absl::Hex(op)));
    }
  }

  std::string_view data_;
  const PersistentLoader& load_;
  size_t pos_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint32_t, PickleRef> memo_;
  int64_t made_ = 0;  // objects made so far
};

}  // namespace

PickleValue::~PickleValue() {
  // The default destructor would recurse once per level. Instead the children move to a work
  // list; a child this tree owns alone gives up its own children to the list before it dies.
  std::vector<PickleRef> pending = std::move(items);
  for (auto& [key, value] : entries) {
    pending.push_back(std::move(key));
    pending.push_back(std::move(value));
  }
  entries.clear();
  while (!pending.empty()) {
    PickleRef next = std::move(pending.back());
    pending.pop_back();
    if (next == nullptr || next.use_count() != 1) continue;
    for (PickleRef& item : next->items) pending.push_back(std::move(item));
    next->items.clear();
    for (auto& [key, value] : next->entries) {
      pending.push_back(std::move(key));
      pending.push_back(std::move(value));
    }
    next->entries.clear();
  }  // `next` dies here with no children, so its destructor does not recurse
}

std::optional<int64_t> CheckedNumel(const std::vector<int64_t>& sizes) {
  int64_t product = 1;
  bool zero = false;
  for (int64_t s : sizes) {
    if (s < 0) return std::nullopt;
    if (s == 0) {
      zero = true;
    } else if (__builtin_mul_overflow(product, s, &product)) {
      return std::nullopt;
    }
  }
  return zero ? 0 : product;
}

std::optional<torch::Dtype> StorageDtype(const std::string& global) {
  static const std::pair<const char*, torch::Dtype> kTypes[] = {
      {"torch.FloatStorage", torch::kFloat},   {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},     {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool}};
  for (const auto& [name, dtype] : kTypes) {
    if (global == name) return dtype;
  }
  return std::nullopt;
}

absl::StatusOr<PickleRef> Unpickle(std::string_view data, const PersistentLoader& load) {
  Machine machine(data, load);
  return machine.Run();
}

}  // namespace tuner::worker::torchtrainer
