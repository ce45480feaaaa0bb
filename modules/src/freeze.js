// Run once in every new module runtime, after Sentrie's own globals are set and before any
// module loads: makes every built-in object reachable from the global object (constructors,
// prototypes, their methods and the hidden intrinsics behind iterators and generators)
// immutable, so that no module can change them for another module or a later request.
(() => {
  "use strict";
  // The registry of CommonJS modules is written as modules load.
  const mutable = new Set([globalThis.__sentrie_cjs]);

  // Frozen data properties cannot be shadowed by assignment on objects that inherit them
  // (`this.name = "MyError"` in an Error subclass would throw). For the properties programs
  // commonly assign that way, an accessor keeps the shared value fixed while an assignment
  // on an inheriting object defines the object's own property, as before freezing.
  const overridable = (proto, keys) => {
    for (const key of keys) {
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      if (!desc || !("value" in desc) || !desc.configurable) continue;
      const value = desc.value;
      Object.defineProperty(proto, key, {
        get() {
          return value;
        },
        set(next) {
          if (this === proto) {
            throw new TypeError(`built-in ${String(key)} cannot be changed`);
          }
          Object.defineProperty(this, key, {
            value: next,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        },
        enumerable: desc.enumerable,
        configurable: false,
      });
    }
  };
  overridable(Object.prototype, [
    "constructor",
    "toString",
    "toLocaleString",
    "valueOf",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
  ]);
  for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
    overridable(E.prototype, ["constructor", "name", "message", "toString"]);
  }
  overridable(Function.prototype, ["constructor", "toString"]);
  overridable(Array.prototype, ["constructor", "toString"]);
  overridable(Promise.prototype, ["constructor", "then"]);

  const roots = [
    globalThis,
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(""[Symbol.iterator]()),
    Object.getPrototypeOf(/x/[Symbol.matchAll]("")),
    Object.getPrototypeOf(Int8Array),
  ];
  const seen = new Set();
  while (roots.length > 0) {
    const o = roots.pop();
    if (o === null || (typeof o !== "object" && typeof o !== "function")) continue;
    if (seen.has(o) || mutable.has(o)) continue;
    seen.add(o);
    Object.freeze(o);
    roots.push(Object.getPrototypeOf(o));
    for (const key of Reflect.ownKeys(o)) {
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc) roots.push(desc.value, desc.get, desc.set);
    }
  }
})();
