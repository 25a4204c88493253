package com.taste2vec.edge.jvm

import com.taste2vec.edge.core.ModelRuntimeException

/** `LiteRtStatus` (`litert/c/litert_common.h`): every code the C API can return, by name. */
enum class LiteRtStatus(val code: Int) {
    OK(0),
    ERROR_INVALID_ARGUMENT(1),
    ERROR_MEMORY_ALLOCATION_FAILURE(2),
    ERROR_RUNTIME_FAILURE(3),
    ERROR_MISSING_INPUT_TENSOR(4),
    ERROR_UNSUPPORTED(5),
    ERROR_NOT_FOUND(6),
    ERROR_TIMEOUT_EXPIRED(7),
    ERROR_WRONG_VERSION(8),
    ERROR_UNKNOWN(9),
    ERROR_ALREADY_EXISTS(10),
    CANCELLED(100),
    ERROR_FILE_IO(500),
    ERROR_INVALID_FLATBUFFER(501),
    ERROR_DYNAMIC_LOADING(502),
    ERROR_SERIALIZATION(503),
    ERROR_COMPILATION(504),
    ERROR_INDEX_OOB(1000),
    ERROR_INVALID_IR_TYPE(1001),
    ERROR_INVALID_GRAPH_INVARIANT(1002),
    ERROR_GRAPH_MODIFICATION(1003),
    ERROR_INVALID_TOOL_CONFIG(1500),
    LEGALIZE_NO_MATCH(2000),
    ERROR_INVALID_LEGALIZATION(2001),
    PATTERN_NO_MATCH(3000),
    INVALID_TRANSFORMATION(3001),
    ERROR_UNSUPPORTED_RUNTIME_VERSION(4000),
    ERROR_UNSUPPORTED_COMPILER_VERSION(4001),
    ERROR_INCOMPATIBLE_BYTE_CODE_VERSION(4002),
    ERROR_UNSUPPORTED_OP_SHAPE_INFERER(5000),
    ERROR_SHAPE_INFERENCE_FAILED(5001),
    /** A code this module does not know (a newer runtime); [LiteRtException.code] keeps the number. */
    UNRECOGNIZED(-1);

    /** The C name, e.g. `kLiteRtStatusErrorInvalidFlatbuffer`. */
    val cName: String
        get() = "kLiteRtStatus" + name.split('_').joinToString("") { it.toLowerCase().capitalize() }
            .replace("Oob", "OOB").replace("Io", "IO")

    companion object {
        private val byCode = values().associateBy { it.code }

        @JvmStatic
        fun of(code: Int): LiteRtStatus = byCode[code] ?: UNRECOGNIZED
    }
}

/**
 * A LiteRT C API call returned an error status. [status] is the typed code ([code] the raw number), [function] the
 * call that failed. LiteRT writes its own details to the process's stderr; the status is all that comes back.
 */
class LiteRtException(val status: LiteRtStatus, val code: Int, val function: String, context: String)
    : ModelRuntimeException("$function failed with ${status.cName} ($code)${if (context.length == 0) "" else ": $context"}")

/** No usable LiteRT runtime library: not found where it was looked for, or not loadable on this machine. */
class LiteRtUnavailableException(message: String, cause: Throwable? = null) : ModelRuntimeException(message, cause) {
    override val errorType: String get() = "RuntimeUnavailableError"
}

/** Throws [LiteRtException] unless [code] is `kLiteRtStatusOk`. */
internal fun check(code: Int, function: String, context: String = "") {
    if (code != 0) throw LiteRtException(LiteRtStatus.of(code), code, function, context)
}
