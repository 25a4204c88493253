package com.taste2vec.edge.core

import java.security.MessageDigest

/** A rollout config is malformed (Python: `RolloutError`). */
class RolloutException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "RolloutError"
}

/** One arm of an experiment: a model id (`<name>-<version>`) and its share of users in percent. */
class RolloutVariant(val name: String, val model: String, val traffic: Double)

/**
 * Which model version a user gets (`taste2vec.rollout/1`, the Python SDK's `taste2vec.rollout`): SHA-256 of
 * `"<experiment>:<user id>"`, first 8 bytes big-endian unsigned, mod 10,000 -> the variant whose cumulative share
 * (in basis points) covers the bucket. Stable across sessions and devices; no server round trip.
 */
class RolloutConfig(val experiment: String, val variants: List<RolloutVariant>, val revision: Int = 1) {
    private val basisPoints = variants.map { Math.rint(it.traffic * BUCKETS / 100.0).toInt() }

    init {
        if (experiment.length == 0) throw RolloutException("rollout: 'experiment' must be a non-empty string")
        if (variants.isEmpty()) throw RolloutException("rollout: at least one variant is needed")
        if (variants.map { it.name }.toSet().size != variants.size) throw RolloutException("rollout: variant names must be unique")
        for (v in variants) {
            if (v.traffic.isNaN() || v.traffic < 0 || v.traffic > 100) {
                throw RolloutException("rollout: variant '${v.name}' traffic ${v.traffic} (allowed: a number in [0, 100])")
            }
        }
        if (basisPoints.sum() != BUCKETS) throw RolloutException("rollout: traffic adds up to ${variants.fold(0.0) { a, v -> a + v.traffic }} %, not 100 %")
    }

    /** The variant of [userId] (deterministic). */
    fun assign(userId: String): RolloutVariant {
        if (userId.length == 0) throw RolloutException("user_id must be a non-empty string")
        val b = userBucket(experiment, userId)
        var edge = 0
        for ((v, bp) in variants.zip(basisPoints)) {
            edge += bp
            if (b < edge) return v
        }
        return variants[variants.size - 1]
    }

    companion object {
        const val FORMAT = "taste2vec.rollout/1"
        const val BUCKETS = 10_000

        @JvmStatic
        fun userBucket(experiment: String, userId: String): Int {
            val d = MessageDigest.getInstance("SHA-256").digest("$experiment:$userId".toByteArray(Charsets.UTF_8))
            var x = 0L
            for (i in 0 until 8) x = (x shl 8) or (d[i].toLong() and 0xFF)
            return java.lang.Long.remainderUnsigned(x, BUCKETS.toLong()).toInt()
        }

        @JvmStatic
        fun parse(text: String): RolloutConfig = fromJson(Json.parse(text).obj("rollout"))

        @JvmStatic
        fun fromJson(d: Map<String, Any?>): RolloutConfig {
            if (d["format"] != FORMAT) throw RolloutException("not a rollout config (format '${d["format"]}', expected $FORMAT)")
            val vs = d["variants"].list("variants").map {
                val v = it.obj("variant")
                RolloutVariant(v["name"].str("name"), v["model"].str("model"), v["traffic"].num("traffic"))
            }
            return RolloutConfig(d["experiment"].str("experiment"), vs, (d["revision"] as? Double)?.toInt() ?: 1)
        }
    }
}
