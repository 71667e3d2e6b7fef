//===- LeanMlirModule.cpp - the lean_mlir._mlir extension -----------------===//
//
// Part of lean-mlir. A small nanobind layer over MLIR's C++ API and our
// dialect. Its shapes follow the upstream MLIR Python bindings where they
// fit (Context, Location, Module.parse, Operation.verify, PassManager.parse
// and run); it adds a typed builder for netspec models so that Python never
// formats IR text.
//
// Errors: every MLIR diagnostic emitted while a call runs is collected, and a
// failing call raises `lean_mlir.ir.MLIRError` carrying them (severity,
// location, message, notes). Nothing here aborts the process on bad input.
//
//===----------------------------------------------------------------------===//

#include "lean_mlir/Dialect/NetSpec/NetSpecOps.h"
#include "lean_mlir/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace mlir;
namespace ns = lean_mlir::netspec;

namespace {

//===----------------------------------------------------------------------===//
// Diagnostics -> Python exceptions
//===----------------------------------------------------------------------===//

/// Renders a location the way a user reads it: `file:line:col`, and for a
/// named location `name (file:line:col)`.
std::string formatLocation(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (file.getFilename().str() + ":" + std::to_string(file.getLine()) +
            ":" + std::to_string(file.getColumn()));
  if (auto name = dyn_cast<NameLoc>(loc)) {
    std::string child = formatLocation(name.getChildLoc());
    return child.empty() ? name.getName().str()
                         : name.getName().str() + " (" + child + ")";
  }
  if (isa<UnknownLoc>(loc))
    return "";
  std::string text;
  llvm::raw_string_ostream os(text);
  loc.print(os);
  return text;
}

const char *severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Remark:
    return "remark";
  case DiagnosticSeverity::Note:
    return "note";
  }
  return "error";
}

struct CollectedDiagnostic {
  std::string severity, location, message;
  std::vector<std::pair<std::string, std::string>> notes;
};

/// Collects every diagnostic emitted on `ctx` while it is alive.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext *ctx)
      : handler(ctx, [this](Diagnostic &diag) {
          CollectedDiagnostic d{severityName(diag.getSeverity()),
                                formatLocation(diag.getLocation()),
                                diag.str(),
                                {}};
          for (Diagnostic &note : diag.getNotes())
            d.notes.emplace_back(formatLocation(note.getLocation()),
                                 note.str());
          diagnostics.push_back(std::move(d));
          return success();
        }) {}

  /// Raises lean_mlir.ir.MLIRError with `what` and what was collected.
  [[noreturn]] void raise(const std::string &what) {
    nb::object cls = nb::module_::import_("lean_mlir._errors").attr("MLIRError");
    nb::object diagCls =
        nb::module_::import_("lean_mlir._errors").attr("Diagnostic");
    nb::list list;
    for (const CollectedDiagnostic &d : diagnostics) {
      nb::list notes;
      for (const auto &[loc, msg] : d.notes)
        notes.append(diagCls("note", loc, msg, nb::list()));
      list.append(diagCls(d.severity, d.location, d.message, notes));
    }
    nb::object exc = cls(what, list);
    PyErr_SetObject(cls.ptr(), exc.ptr());
    throw nb::python_error();
  }

private:
  std::vector<CollectedDiagnostic> diagnostics;
  ScopedDiagnosticHandler handler;
};

//===----------------------------------------------------------------------===//
// Context
//===----------------------------------------------------------------------===//

class LmContext {
public:
  LmContext() {
    DialectRegistry registry;
    lean_mlir::registerAllDialects(registry);
    context = std::make_unique<MLIRContext>(registry);
    context->loadAllAvailableDialects();
    // Python shows diagnostics itself; the op dump MLIR would attach as a
    // note only repeats the location.
    context->printOpOnDiagnostic(false);
    // Diagnostics are turned into exceptions by DiagnosticCollector; outside
    // of one, the default handler would print to stderr, which is fine.
  }
  MLIRContext *get() { return context.get(); }

  static std::vector<nb::object> &stack() {
    static thread_local std::vector<nb::object> contexts;
    return contexts;
  }
  /// The context given, or the innermost `with Context():`, else an error.
  static nb::object resolve(std::optional<nb::object> given) {
    if (given && !given->is_none())
      return *given;
    if (stack().empty())
      throw nb::value_error(
          "no context given and no 'with lean_mlir.ir.Context():' is active");
    return stack().back();
  }

private:
  std::unique_ptr<MLIRContext> context;
};

MLIRContext *unwrap(nb::handle ctx) { return nb::cast<LmContext &>(ctx).get(); }

//===----------------------------------------------------------------------===//
// Location
//===----------------------------------------------------------------------===//

struct LmLocation {
  nb::object context;
  Location loc;
};

//===----------------------------------------------------------------------===//
// Module and Operation
//===----------------------------------------------------------------------===//

struct LmModule {
  nb::object context;
  OwningOpRef<ModuleOp> module;
};

/// A view of an operation inside a module; it keeps the module alive. Like
/// upstream's, it must not be used after a pass has erased the operation.
struct LmOperation {
  nb::object owner; // the LmModule
  Operation *op;
};

std::string printOp(Operation *op, bool generic, bool debugInfo) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  if (debugInfo)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  op->print(os, flags);
  return text;
}

/// Converts the attributes Python code commonly reads to Python values and
/// anything else to its textual form.
nb::object attributeToPython(Attribute attr) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    return nb::bool_(b.getValue());
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return nb::int_(i.getValue().getSExtValue());
  if (auto f = dyn_cast<FloatAttr>(attr))
    return nb::float_(f.getValueAsDouble());
  if (auto s = dyn_cast<StringAttr>(attr))
    return nb::str(s.getValue().str().c_str());
  if (auto arr = dyn_cast<DenseI64ArrayAttr>(attr)) {
    nb::list list;
    for (int64_t v : arr.asArrayRef())
      list.append(v);
    return list;
  }
  if (auto arr = dyn_cast<ArrayAttr>(attr)) {
    nb::list list;
    for (Attribute a : arr)
      list.append(attributeToPython(a));
    return list;
  }
  if (auto sym = dyn_cast<FlatSymbolRefAttr>(attr))
    return nb::str(sym.getValue().str().c_str());
  std::string text;
  llvm::raw_string_ostream os(text);
  attr.print(os);
  return nb::str(text.c_str());
}

//===----------------------------------------------------------------------===//
// PassManager
//===----------------------------------------------------------------------===//

struct LmPassManager {
  nb::object context;
  std::unique_ptr<PassManager> pm;
};

//===----------------------------------------------------------------------===//
// netspec model builder
//===----------------------------------------------------------------------===//

class LmModelBuilder;

/// A value inside a model under construction. The binding keeps its
/// builder alive; it is usable until the builder's `output()` hands the
/// module over.
struct LmValue {
  LmModelBuilder *builder;
  Value value;
};

std::string typeToString(Type type) {
  std::string text;
  llvm::raw_string_ostream os(text);
  type.print(os);
  return text;
}

/// One function's arguments or results: each a dict of its type (as text)
/// and its attributes (as Python values).
nb::list describeValues(TypeRange types,
                        llvm::function_ref<DictionaryAttr(unsigned)> attrs) {
  nb::list out;
  for (auto [i, type] : llvm::enumerate(types)) {
    nb::dict entry, dict;
    if (DictionaryAttr d = attrs(i))
      for (NamedAttribute attr : d)
        dict[attr.getName().str().c_str()] = attributeToPython(attr.getValue());
    entry["type"] = typeToString(type);
    if (auto tensor = dyn_cast<RankedTensorType>(type)) {
      nb::list shape;
      for (int64_t d : tensor.getShape())
        shape.append(d);
      entry["shape"] = shape;
      entry["element_type"] = typeToString(tensor.getElementType());
    }
    entry["attributes"] = dict;
    out.append(entry);
  }
  return out;
}

/// The names of a location's NameLoc chain, outermost first
/// (loc("forward"("conv2d_0"(file:1:0))) -> ["forward", "conv2d_0"]), one
/// chain per location a FusedLoc fuses.
nb::list locationNames(Location loc) {
  nb::list chains;
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location part : fused.getLocations())
      for (nb::handle chain : locationNames(part))
        chains.append(chain);
    return chains;
  }
  nb::list chain;
  while (auto name = dyn_cast<NameLoc>(loc)) {
    chain.append(nb::str(name.getName().str().c_str()));
    loc = name.getChildLoc();
  }
  chains.append(chain);
  return chains;
}

/// The ops of an op's first block as data: for each, its name, location
/// names (locationNames), result types, and where each operand comes from:
/// ("op", index of the producing op in the block) or ("arg", argument
/// number); ("outer", -1) for a value defined outside the block.
nb::list blockOps(Operation *parent) {
  nb::list out;
  if (parent->getNumRegions() == 0 || parent->getRegion(0).empty())
    return out;
  Block &block = parent->getRegion(0).front();
  llvm::DenseMap<Operation *, int64_t> index;
  for (Operation &op : block) {
    int64_t i = static_cast<int64_t>(index.size());
    index[&op] = i;
    nb::dict entry;
    entry["name"] = op.getName().getStringRef().str();
    entry["locations"] = locationNames(op.getLoc());
    std::vector<std::string> types;
    for (Type t : op.getResultTypes())
      types.push_back(typeToString(t));
    entry["results"] = types;
    nb::dict attrs;
    for (NamedAttribute attr : op.getAttrs())
      attrs[attr.getName().str().c_str()] = attributeToPython(attr.getValue());
    entry["attributes"] = attrs;
    nb::list operands;
    for (Value v : op.getOperands()) {
      if (auto arg = dyn_cast<BlockArgument>(v); arg && arg.getOwner() == &block)
        operands.append(nb::make_tuple("arg", arg.getArgNumber()));
      else if (Operation *def = v.getDefiningOp(); def && index.count(def))
        operands.append(nb::make_tuple("op", index[def],
                                       cast<OpResult>(v).getResultNumber()));
      else
        operands.append(nb::make_tuple("outer", -1));
    }
    entry["operands"] = operands;
    out.append(entry);
  }
  return out;
}


/// Builds one `netspec.model` op by op. Each layer is verified the moment it
/// is added, so a shape error is reported at the layer that causes it, with
/// that layer's location.
class LmModelBuilder {
public:
  LmModelBuilder(nb::object context, const std::string &name, LmLocation &loc)
      : context(std::move(context)), builder(unwrap(this->context)) {
    module = ModuleOp::create(loc.loc);
    builder.setInsertionPointToEnd(module->getBody());
    model = ns::ModelOp::create(builder, loc.loc, name);
    builder.setInsertionPointToEnd(&model.getBody().front());
  }

  MLIRContext *ctx() { return unwrap(context); }

  Value get(const LmValue &v) {
    if (v.builder != this)
      throw nb::value_error("value belongs to another model builder");
    return v.value;
  }

  nb::object wrap(Value value) { return nb::cast(LmValue{this, value}); }

  void checkOpen() {
    if (!module)
      throw nb::value_error("the model was already finished");
  }

  /// Finishes an op whose result type is a placeholder: infers the real
  /// type (InferTypeOpInterface, which emits the shape diagnostics at the
  /// op's location) and verifies the op alone. On failure the op is erased
  /// and MLIRError raised.
  nb::object finishLayer(Operation *op, DiagnosticCollector &diags,
                         StringRef what) {
    SmallVector<Type, 1> types;
    auto infer = cast<InferTypeOpInterface>(op);
    if (failed(infer.inferReturnTypes(
            ctx(), op->getLoc(), op->getOperands(),
            op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
            op->getRegions(), types))) {
      op->erase();
      diags.raise(("invalid " + what).str());
    }
    op->getResult(0).setType(types.front());
    return verifyNew(op, diags, what);
  }

  nb::object verifyNew(Operation *op, DiagnosticCollector &diags,
                       StringRef what) {
    if (failed(verify(op, /*verifyRecursively=*/false))) {
      op->erase();
      diags.raise(("invalid " + what).str());
    }
    return op->getNumResults() ? wrap(op->getResult(0)) : nb::none();
  }

  Type placeholder() { return UnrankedTensorType::get(Float32Type::get(ctx())); }

  nb::object input(const std::vector<std::optional<int64_t>> &shape,
                   LmLocation &loc) {
    checkOpen();
    DiagnosticCollector diags(ctx());
    SmallVector<int64_t> dims;
    for (const auto &d : shape)
      dims.push_back(d ? *d : ShapedType::kDynamic);
    for (int64_t d : dims)
      if (d != ShapedType::kDynamic && d <= 0) {
        emitError(loc.loc) << "input dimensions must be positive, got "
                           << formatDims(dims);
        diags.raise("invalid netspec.input");
      }
    auto type = RankedTensorType::get(dims, Float32Type::get(ctx()));
    auto op = ns::InputOp::create(builder, loc.loc, type);
    return verifyNew(op, diags, "netspec.input");
  }

  nb::object param(const std::string &name, const std::vector<int64_t> &shape,
                   const std::string &init, LmLocation &loc,
                   bool trainable) {
    checkOpen();
    DiagnosticCollector diags(ctx());
    std::optional<ns::Init> kind = ns::symbolizeInit(init);
    if (!kind) {
      emitError(loc.loc) << "unknown init scheme '" << init
                         << "' for parameter '" << name << "'";
      diags.raise("invalid netspec.param");
    }
    for (int64_t d : shape)
      if (d <= 0) {
        emitError(loc.loc) << "parameter '" << name
                           << "' must have positive dimensions, got "
                           << formatDims(shape);
        diags.raise("invalid netspec.param");
      }
    auto type = RankedTensorType::get(shape, Float32Type::get(ctx()));
    auto op = ns::ParamOp::create(builder, loc.loc, type, name, *kind,
                                  /*non_trainable=*/!trainable);
    return verifyNew(op, diags, "netspec.param");
  }

  template <typename EnumT>
  EnumT parseEnum(const std::string &text, const char *what) {
    std::optional<EnumT> value = ns::symbolizeEnum<EnumT>(text);
    if (!value)
      throw nb::value_error(
          (std::string("unknown ") + what + " '" + text + "'").c_str());
    return *value;
  }

  /// Creates a layer op with a placeholder result type, then infers and
  /// verifies it (see finishLayer).
  template <typename OpT, typename... Args>
  nb::object addLayer(LmLocation &loc, Args &&...args) {
    checkOpen();
    DiagnosticCollector diags(ctx());
    auto op = OpT::create(builder, loc.loc, placeholder(),
                          std::forward<Args>(args)...);
    return finishLayer(op, diags, OpT::getOperationName());
  }

  nb::object conv2d(const LmValue &x, const LmValue &w,
                    const std::optional<LmValue> &b, int64_t stride,
                    const std::string &padding, const std::string &activation,
                    LmLocation &loc, int64_t groups,
                    const std::optional<std::vector<int64_t>> &pads) {
    auto pad = parseEnum<ns::Padding>(padding, "padding");
    auto act = parseEnum<ns::Activation>(activation, "activation");
    return addLayer<ns::Conv2dOp>(
        loc, get(x), get(w), b ? get(*b) : Value(),
        builder.getI64IntegerAttr(stride), ns::PaddingAttr::get(ctx(), pad),
        ns::ActivationAttr::get(ctx(), act), builder.getI64IntegerAttr(groups),
        pads ? builder.getDenseI64ArrayAttr(*pads) : DenseI64ArrayAttr());
  }

  nb::object maxPool2d(const LmValue &x, int64_t window, int64_t stride,
                       LmLocation &loc, int64_t padding) {
    return addLayer<ns::MaxPool2dOp>(loc, get(x),
                                     builder.getI64IntegerAttr(window),
                                     builder.getI64IntegerAttr(stride),
                                     builder.getI64IntegerAttr(padding));
  }

  nb::object avgPool2d(const LmValue &x, int64_t window, int64_t stride,
                       LmLocation &loc, int64_t padding) {
    return addLayer<ns::AvgPool2dOp>(loc, get(x),
                                     builder.getI64IntegerAttr(window),
                                     builder.getI64IntegerAttr(stride),
                                     builder.getI64IntegerAttr(padding));
  }

  nb::object flatten(const LmValue &x, LmLocation &loc) {
    return addLayer<ns::FlattenOp>(loc, get(x));
  }

  nb::object dense(const LmValue &x, const LmValue &w,
                   const std::optional<LmValue> &b,
                   const std::string &activation, LmLocation &loc) {
    auto act = parseEnum<ns::Activation>(activation, "activation");
    return addLayer<ns::DenseOp>(loc, get(x), get(w), b ? get(*b) : Value(),
                                 ns::ActivationAttr::get(ctx(), act));
  }

  nb::object relu(const LmValue &x, LmLocation &loc) {
    return addLayer<ns::ReluOp>(loc, get(x));
  }

  nb::object batchNorm(const LmValue &x, const LmValue &scale,
                       const LmValue &shift, const LmValue &mean,
                       const LmValue &var, double epsilon, double momentum,
                       const std::string &activation, LmLocation &loc) {
    auto act = parseEnum<ns::Activation>(activation, "activation");
    return addLayer<ns::BatchNormOp>(
        loc, get(x), get(scale), get(shift), get(mean), get(var),
        builder.getF64FloatAttr(epsilon), builder.getF64FloatAttr(momentum),
        ns::ActivationAttr::get(ctx(), act));
  }

  nb::object globalAvgPool(const LmValue &x, LmLocation &loc) {
    return addLayer<ns::GlobalAvgPoolOp>(loc, get(x));
  }

  nb::object layerNorm(const LmValue &x, const LmValue &weight,
                       const LmValue &bias, double epsilon, LmLocation &loc) {
    return addLayer<ns::LayerNormOp>(loc, get(x), get(weight), get(bias),
                                     builder.getF64FloatAttr(epsilon));
  }

  nb::object layerScale(const LmValue &x, const LmValue &gamma, LmLocation &loc) {
    return addLayer<ns::LayerScaleOp>(loc, get(x), get(gamma));
  }

  nb::object squeezeExcite(const LmValue &x, const LmValue &w1,
                           const LmValue &b1, const LmValue &w2,
                           const LmValue &b2, const std::string &activation,
                           LmLocation &loc, bool hardGate) {
    auto act = parseEnum<ns::Activation>(activation, "activation");
    return addLayer<ns::SqueezeExciteOp>(
        loc, get(x), get(w1), get(b1), get(w2), get(b2),
        ns::ActivationAttr::get(ctx(), act),
        hardGate ? builder.getUnitAttr() : UnitAttr());
  }

  nb::object add(const LmValue &lhs, const LmValue &rhs, LmLocation &loc) {
    return addLayer<ns::AddOp>(loc, get(lhs), get(rhs));
  }

  nb::object tokens(const LmValue &x, LmLocation &loc) {
    return addLayer<ns::TokensOp>(loc, get(x));
  }

  nb::object classToken(const LmValue &x, const LmValue &token,
                        LmLocation &loc) {
    return addLayer<ns::ClassTokenOp>(loc, get(x), get(token));
  }

  nb::object positionEmbedding(const LmValue &x, const LmValue &embedding,
                               LmLocation &loc) {
    return addLayer<ns::PositionEmbeddingOp>(loc, get(x), get(embedding));
  }

  nb::object attention(const LmValue &qkv, int64_t heads, LmLocation &loc) {
    return addLayer<ns::AttentionOp>(loc, get(qkv),
                                     builder.getI64IntegerAttr(heads));
  }

  nb::object takeToken(const LmValue &x, int64_t index, LmLocation &loc) {
    return addLayer<ns::TakeTokenOp>(loc, get(x),
                                     builder.getI64IntegerAttr(index));
  }

  /// Adds the terminator, verifies the whole module and hands it over.
  LmModule output(const LmValue &logits, LmLocation &loc) {
    checkOpen();
    DiagnosticCollector diags(ctx());
    auto op = ns::OutputOp::create(builder, loc.loc, get(logits));
    if (failed(verify(op, /*verifyRecursively=*/false))) {
      op->erase();
      diags.raise("invalid netspec.output");
    }
    if (failed(verify(*module)))
      diags.raise("the model does not verify");
    return LmModule{context, std::move(module)};
  }

  static std::string formatDims(ArrayRef<int64_t> dims) {
    std::string text = "[";
    for (auto [i, d] : llvm::enumerate(dims))
      text += (i ? ", " : "") +
              (d == ShapedType::kDynamic ? std::string("?") : std::to_string(d));
    return text + "]";
  }

  nb::object context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
  ns::ModelOp model;
};

void checkLive(const LmValue &v) {
  if (!v.builder->module)
    throw nb::value_error("the value's model was finished; read shapes "
                          "before calling output()");
}

std::string valueType(const LmValue &v) {
  checkLive(v);
  return typeToString(v.value.getType());
}

nb::list valueShape(const LmValue &v) {
  checkLive(v);
  nb::list shape;
  for (int64_t d : cast<RankedTensorType>(v.value.getType()).getShape())
    shape.append(d == ShapedType::kDynamic ? nb::object(nb::none())
                                           : nb::object(nb::int_(d)));
  return shape;
}

} // namespace

NB_MODULE(_mlir, m) {
  m.doc() = "lean-mlir's MLIR core: context, IR, passes and netspec builders";

  // Everything a pipeline string may name is registered once, up front.
  registerTransformsPasses();
  lean_mlir::registerAllPasses();

  nb::class_<LmContext>(m, "Context",
                        "Owns MLIR's state; the netspec dialect is loaded.")
      .def(nb::init<>())
      .def("__enter__",
           [](nb::object self) {
             LmContext::stack().push_back(self);
             return self;
           })
      .def("__exit__",
           [](LmContext &, nb::args) { LmContext::stack().pop_back(); })
      .def_prop_ro_static(
          "current",
          [](nb::handle) -> nb::object {
            return LmContext::stack().empty() ? nb::none()
                                              : LmContext::stack().back();
          },
          "The innermost active context, or None.")
      .def_prop_rw(
          "allow_unregistered_dialects",
          [](LmContext &c) { return c.get()->allowsUnregisteredDialects(); },
          [](LmContext &c, bool v) { c.get()->allowUnregisteredDialects(v); });

  nb::class_<LmLocation>(m, "Location", "A source location.")
      .def_static(
          "unknown",
          [](std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            return LmLocation{ctx, UnknownLoc::get(unwrap(ctx))};
          },
          nb::arg("context") = nb::none())
      .def_static(
          "file",
          [](const std::string &filename, unsigned line, unsigned col,
             std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            return LmLocation{
                ctx, FileLineColLoc::get(unwrap(ctx), filename, line, col)};
          },
          nb::arg("filename"), nb::arg("line"), nb::arg("col"),
          nb::arg("context") = nb::none())
      .def_static(
          "name",
          [](const std::string &name, std::optional<LmLocation> child,
             std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            MLIRContext *c = unwrap(ctx);
            Location childLoc = child ? child->loc : Location(UnknownLoc::get(c));
            return LmLocation{ctx,
                              NameLoc::get(StringAttr::get(c, name), childLoc)};
          },
          nb::arg("name"), nb::arg("child_loc") = nb::none(),
          nb::arg("context") = nb::none())
      .def("__str__",
           [](LmLocation &l) {
             std::string text;
             llvm::raw_string_ostream os(text);
             l.loc.print(os);
             return text;
           })
      .def_prop_ro("context", [](LmLocation &l) { return l.context; });

  nb::class_<LmOperation>(m, "Operation", "A view of an operation.")
      .def_prop_ro("name",
                   [](LmOperation &o) {
                     return o.op->getName().getStringRef().str();
                   })
      .def_prop_ro("location",
                   [](LmOperation &o) { return formatLocation(o.op->getLoc()); })
      .def(
          "verify",
          [](LmOperation &o) {
            DiagnosticCollector diags(o.op->getContext());
            if (failed(verify(o.op)))
              diags.raise("verification failed");
            return true;
          },
          "Runs the verifiers; raises MLIRError with the diagnostics.")
      .def("__str__",
           [](LmOperation &o) { return printOp(o.op, false, false); })
      .def("get_asm", [](LmOperation &o, bool generic, bool debugInfo) {
            return printOp(o.op, generic, debugInfo);
          },
          nb::arg("print_generic_op_form") = false,
          nb::arg("enable_debug_info") = false)
      .def_prop_ro(
          "attributes",
          [](LmOperation &o) {
            nb::dict dict;
            for (NamedAttribute attr : o.op->getAttrs())
              dict[attr.getName().str().c_str()] =
                  attributeToPython(attr.getValue());
            return dict;
          },
          "A snapshot of the attributes (inherent and discardable) as "
          "Python values.")
      .def_prop_ro("result_types",
                   [](LmOperation &o) {
                     std::vector<std::string> types;
                     for (Type t : o.op->getResultTypes())
                       types.push_back(typeToString(t));
                     return types;
                   })
      .def("block_ops", [](LmOperation &o) { return blockOps(o.op); },
           "The ops of the first block of this op's first region, as dicts: "
           "name, locations (NameLoc name chains, outermost first), results "
           "(types), attributes (as Python values) and operands (('op', index, "
           "result) | ('arg', n) | ('outer', -1)).")
      .def(
          "walk",
          [](LmOperation &o) {
            nb::list ops;
            o.op->walk<WalkOrder::PreOrder>([&](Operation *nested) {
              if (nested != o.op)
                ops.append(LmOperation{o.owner, nested});
            });
            return ops;
          },
          "All nested operations in pre-order (views, see the class doc).");

  nb::class_<LmModule>(m, "Module", "A builtin.module that owns its IR.")
      .def_static(
          "parse",
          [](const std::string &text, std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            DiagnosticCollector diags(unwrap(ctx));
            OwningOpRef<ModuleOp> module =
                parseSourceString<ModuleOp>(text, unwrap(ctx), "<string>");
            if (!module)
              diags.raise("unable to parse the module");
            return LmModule{ctx, std::move(module)};
          },
          nb::arg("asm"), nb::arg("context") = nb::none())
      .def_static(
          "create",
          [](std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            return LmModule{ctx, ModuleOp::create(UnknownLoc::get(unwrap(ctx)))};
          },
          nb::arg("context") = nb::none())
      .def_prop_ro("operation",
                   [](nb::object self) {
                     LmModule &m = nb::cast<LmModule &>(self);
                     return LmOperation{self, m.module->getOperation()};
                   })
      .def_prop_ro("context", [](LmModule &m) { return m.context; })
      .def(
          "functions",
          [](LmModule &m) {
            nb::list out;
            for (auto func : m.module->getOps<func::FuncOp>()) {
              nb::dict entry;
              entry["name"] = func.getSymName().str();
              entry["arguments"] = describeValues(
                  func.getArgumentTypes(),
                  [&](unsigned i) { return func.getArgAttrDict(i); });
              entry["results"] = describeValues(
                  func.getResultTypes(),
                  [&](unsigned i) { return func.getResultAttrDict(i); });
              out.append(entry);
            }
            return out;
          },
          "The module's func.funcs, in order, as dicts: name, arguments and "
          "results (each a list of dicts: type as text, attributes as "
          "Python values).")
      .def("__str__", [](LmModule &m) {
        return printOp(m.module->getOperation(), false, false);
      });

  nb::class_<LmPassManager>(m, "PassManager", "Runs a pass pipeline.")
      .def_static(
          "parse",
          [](const std::string &pipeline, std::optional<nb::object> context) {
            nb::object ctx = LmContext::resolve(context);
            // The pipeline names its anchor ("builtin.module(...)"); the
            // pass manager is anchored on it, as in mlir-opt.
            std::string error;
            llvm::raw_string_ostream os(error);
            FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, os);
            if (failed(parsed))
              throw nb::value_error(
                  ("invalid pass pipeline '" + pipeline + "': " + error)
                      .c_str());
            auto pm = std::make_unique<PassManager>(
                unwrap(ctx), parsed->getOpAnchorName());
            static_cast<OpPassManager &>(*pm) = *parsed;
            return LmPassManager{ctx, std::move(pm)};
          },
          nb::arg("pipeline"), nb::arg("context") = nb::none())
      .def(
          "run",
          [](LmPassManager &p, LmOperation &op) {
            DiagnosticCollector diags(unwrap(p.context));
            if (failed(p.pm->run(op.op)))
              diags.raise("failure while running the pass pipeline");
          },
          nb::arg("operation"))
      .def("enable_verifier",
           [](LmPassManager &p, bool enable) { p.pm->enableVerifier(enable); })
      .def("__str__", [](LmPassManager &p) {
        std::string text;
        llvm::raw_string_ostream os(text);
        p.pm->printAsTextualPipeline(os);
        return text;
      });

  nb::class_<LmValue>(m, "Value", "An SSA value made by a ModelBuilder.")
      .def_prop_ro("type", &valueType)
      .def_prop_ro("shape", &valueShape,
                   "Dimensions, with None for the dynamic batch.");

  nb::class_<LmModelBuilder>(m, "ModelBuilder",
                             "Builds one netspec.model; see the netspec "
                             "dialect docs for each op.")
      .def(
          "__init__",
          [](LmModelBuilder *self, const std::string &name, LmLocation &loc) {
            new (self) LmModelBuilder(loc.context, name, loc);
          },
          nb::arg("name"), nb::arg("loc"))
      .def("input", &LmModelBuilder::input, nb::arg("shape"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("param", &LmModelBuilder::param, nb::arg("name"), nb::arg("shape"),
           nb::arg("init"), nb::arg("loc"), nb::arg("trainable") = true,
           nb::keep_alive<0, 1>())
      .def("conv2d", &LmModelBuilder::conv2d, nb::arg("x"), nb::arg("weight"),
           nb::arg("bias").none(), nb::arg("stride"), nb::arg("padding"),
           nb::arg("activation"), nb::arg("loc"), nb::arg("groups") = 1,
           nb::arg("pads") = nb::none(), nb::keep_alive<0, 1>())
      .def("max_pool2d", &LmModelBuilder::maxPool2d, nb::arg("x"),
           nb::arg("window"), nb::arg("stride"), nb::arg("loc"), nb::arg("padding") = 0,
           nb::keep_alive<0, 1>())
      .def("avg_pool2d", &LmModelBuilder::avgPool2d, nb::arg("x"),
           nb::arg("window"), nb::arg("stride"), nb::arg("loc"), nb::arg("padding") = 0,
           nb::keep_alive<0, 1>())
      .def("flatten", &LmModelBuilder::flatten, nb::arg("x"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("dense", &LmModelBuilder::dense, nb::arg("x"), nb::arg("weight"),
           nb::arg("bias").none(), nb::arg("activation"), nb::arg("loc"),
           nb::keep_alive<0, 1>())
      .def("relu", &LmModelBuilder::relu, nb::arg("x"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("batch_norm", &LmModelBuilder::batchNorm, nb::arg("x"),
           nb::arg("scale"), nb::arg("shift"), nb::arg("running_mean"),
           nb::arg("running_var"), nb::arg("epsilon"), nb::arg("momentum"),
           nb::arg("activation"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("global_avg_pool", &LmModelBuilder::globalAvgPool, nb::arg("x"),
           nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("layer_norm", &LmModelBuilder::layerNorm, nb::arg("x"),
           nb::arg("weight"), nb::arg("bias"), nb::arg("epsilon"), nb::arg("loc"),
           nb::keep_alive<0, 1>())
      .def("layer_scale", &LmModelBuilder::layerScale, nb::arg("x"),
           nb::arg("gamma"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("squeeze_excite", &LmModelBuilder::squeezeExcite, nb::arg("x"),
           nb::arg("fc1_weight"), nb::arg("fc1_bias"), nb::arg("fc2_weight"),
           nb::arg("fc2_bias"), nb::arg("activation"), nb::arg("loc"),
           nb::arg("hard_gate") = false, nb::keep_alive<0, 1>())
      .def("add", &LmModelBuilder::add, nb::arg("lhs"), nb::arg("rhs"),
           nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("tokens", &LmModelBuilder::tokens, nb::arg("x"), nb::arg("loc"),
           nb::keep_alive<0, 1>())
      .def("class_token", &LmModelBuilder::classToken, nb::arg("x"),
           nb::arg("token"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("position_embedding", &LmModelBuilder::positionEmbedding,
           nb::arg("x"), nb::arg("embedding"), nb::arg("loc"),
           nb::keep_alive<0, 1>())
      .def("attention", &LmModelBuilder::attention, nb::arg("qkv"),
           nb::arg("heads"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("take_token", &LmModelBuilder::takeToken, nb::arg("x"),
           nb::arg("index"), nb::arg("loc"), nb::keep_alive<0, 1>())
      .def("output", &LmModelBuilder::output, nb::arg("logits"),
           nb::arg("loc"),
           "Adds netspec.output, verifies, and returns the Module; the "
           "builder is spent afterwards.");
}
