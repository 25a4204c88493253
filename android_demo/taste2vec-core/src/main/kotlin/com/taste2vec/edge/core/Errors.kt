package com.taste2vec.edge.core

/**
 * Base class of every error this module raises (mirrors the Python SDK's `Taste2VecError`). [errorType] is the
 * name the error has in every language and on the wire: the Python SDK's class name (`OutOfRangeError`), which the
 * server and `kotlin-embed` also print as `"type"`.
 */
open class Taste2VecException(message: String) : RuntimeException(message) {
    open val errorType: String get() = "Taste2VecError"
}

/** The record spec, tokenizer, lexicon or bundle files are malformed or of an unsupported version. */
class SpecException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "SpecError"
}

/**
 * The runtime could not run the model or returned something that is not an embedding (non-finite or zero values,
 * the wrong size). Python: `ModelRuntimeError`.
 */
open class ModelRuntimeException(message: String, cause: Throwable? = null) : Taste2VecException(message) {
    init {
        if (cause != null) initCause(cause)
    }

    override val errorType: String get() = "ModelRuntimeError"
}

/**
 * A tasting record does not follow the record spec (Python: `RecordValidationError`). [field] is the dotted path
 * of the offending field (`metrics.acidity`, `context[2].hour`), [allowed] says what is allowed there.
 */
open class RecordValidationException(val field: String, message: String, val allowed: String = "",
                                     val value: Any? = null)
    : Taste2VecException(if (allowed.length == 0) "$field: $message" else "$field: $message (allowed: $allowed)") {
    override val errorType: String get() = "RecordValidationError"
}

/** Wrong type, e.g. a string where a number is expected (Python: `InvalidTypeError`). */
class InvalidTypeException(field: String, message: String, allowed: String = "", value: Any? = null)
    : RecordValidationException(field, message, allowed, value) {
    override val errorType: String get() = "InvalidTypeError"
}

/** NaN or infinite number (Python: `NonFiniteValueError`). */
class NonFiniteValueException(field: String, message: String, allowed: String = "", value: Any? = null)
    : RecordValidationException(field, message, allowed, value) {
    override val errorType: String get() = "NonFiniteValueError"
}

/** Outside the spec's range (Python: `OutOfRangeError`). */
class OutOfRangeException(field: String, message: String, allowed: String = "", value: Any? = null)
    : RecordValidationException(field, message, allowed, value) {
    override val errorType: String get() = "OutOfRangeError"
}

/** A field name the spec does not define (Python: `UnknownFieldError`). */
class UnknownFieldException(field: String, message: String, allowed: String = "", value: Any? = null)
    : RecordValidationException(field, message, allowed, value) {
    override val errorType: String get() = "UnknownFieldError"
}

/** A categorical value that is not one of the spec's categories (Python: `UnknownCategoryError`). */
class UnknownCategoryException(field: String, message: String, allowed: String = "", value: Any? = null)
    : RecordValidationException(field, message, allowed, value) {
    override val errorType: String get() = "UnknownCategoryError"
}
