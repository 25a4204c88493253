package com.taste2vec.edge.core

/** A profile file is malformed, or feedback comes from another model than the profile's. */
class ProfileException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "ProfileError"
}

/** One feedback event: a unit embedding (float32, as stored), its target in [-1, 1], what it was about. */
class Feedback(val embedding: FloatArray, val target: Double, val itemId: String?, val attributes: Map<String, Double>)

/**
 * A personal taste profile learned on the device: the Python SDK's `taste2vec.profile.TasteProfile`, same maths.
 *
 * The preference direction `w` is the ridge fit of the events in a replay buffer around a prior `w0`, solved in
 * dual form `w = w0 + E^T (E E^T + lambda I)^-1 (y - E w0)`; when the buffer is full the oldest event is folded
 * into the prior with one LMS step `w0 += foldRate * (y - w0 . e) * e`. A coffee's score is `w . e`.
 * Not thread-safe: one per user.
 */
class TasteProfile @JvmOverloads constructor(val dim: Int = 128, modelVersion: String? = null,
                                             val bufferSize: Int = 64, val ridge: Double = 1.0,
                                             val foldRate: Double = 0.5) {
    var modelVersion: String? = modelVersion
        private set
    val prior = DoubleArray(dim)
    val buffer = ArrayList<Feedback>()
    val attributeAffinity = LinkedHashMap<String, Double>()
    var nEvents = 0
        private set
    private var w = DoubleArray(dim)

    init {
        if (dim < 1) throw OutOfRangeException("dim", "got $dim", "an integer >= 1", dim)
        if (bufferSize < 1) throw OutOfRangeException("buffer_size", "got $bufferSize", "an integer >= 1", bufferSize)
        if (!(ridge > 0) || ridge.isInfinite()) throw OutOfRangeException("ridge", "got $ridge", "a finite number > 0", ridge)
        if (!(foldRate >= 0 && foldRate <= 1)) throw OutOfRangeException("fold_rate", "got $foldRate", "a number in [0, 1]", foldRate)
    }

    fun like(embedding: FloatArray, itemId: String? = null, attributes: Map<String, Double> = emptyMap(),
             modelVersion: String? = null) = addFeedback(embedding, 1.0, itemId, attributes, modelVersion)

    fun dislike(embedding: FloatArray, itemId: String? = null, attributes: Map<String, Double> = emptyMap(),
                modelVersion: String? = null) = addFeedback(embedding, -1.0, itemId, attributes, modelVersion)

    /** A 1..5 star rating; target `(rating - 3) / 2`. */
    fun rate(embedding: FloatArray, rating: Double, itemId: String? = null, attributes: Map<String, Double> = emptyMap(),
             modelVersion: String? = null): Feedback {
        if (rating.isNaN() || rating.isInfinite()) throw NonFiniteValueException("rating", "value $rating is not finite", "a number in [1, 5]", rating)
        if (!(rating >= RATING_MIN && rating <= RATING_MAX)) throw OutOfRangeException("rating", "value $rating is out of range", "a number in [1, 5]", rating)
        return addFeedback(embedding, (rating - 3.0) / 2.0, itemId, attributes, modelVersion)
    }

    /** Learns from one event with target in [-1, 1]; [modelVersion] (when given) must be the profile's. */
    fun addFeedback(embedding: FloatArray, target: Double, itemId: String? = null,
                    attributes: Map<String, Double> = emptyMap(), modelVersion: String? = null): Feedback {
        if (embedding.size != dim) throw InvalidTypeException("embedding", "shape (${embedding.size},)", "a vector of $dim numbers")
        if (embedding.any { it.isNaN() || it.isInfinite() }) throw NonFiniteValueException("embedding", "has NaN or infinite entries", "$dim finite numbers")
        if (!(target >= -1.0 && target <= 1.0)) throw OutOfRangeException("target", "got $target", "a number in [-1, 1]", target)
        var norm = 0.0
        for (x in embedding) norm += x.toDouble() * x.toDouble()
        norm = Math.sqrt(norm)
        if (norm == 0.0) throw OutOfRangeException("embedding", "is the zero vector", "a non-zero vector")
        if (modelVersion != null) {
            if (this.modelVersion == null) this.modelVersion = modelVersion
            else if (modelVersion != this.modelVersion) {
                throw ProfileException("feedback embedding comes from $modelVersion, this profile holds ${this.modelVersion} " +
                                       "vectors (re-embed, or start a new profile for the new model)")
            }
        }
        for ((k, v) in attributes) {
            if (v.isNaN() || v.isInfinite()) throw InvalidTypeException("attributes.$k", "bad attribute weight $v", "name -> finite number", v)
        }
        val unit = FloatArray(dim) { (embedding[it].toDouble() / norm).toFloat() }
        val fb = Feedback(unit, target, itemId, LinkedHashMap(attributes))
        if (buffer.size >= bufferSize) {
            val old = buffer.removeAt(0)
            var dot = 0.0
            for (i in 0 until dim) dot += prior[i] * old.embedding[i].toDouble()
            val step = foldRate * (old.target - dot)
            for (i in 0 until dim) prior[i] += step * old.embedding[i].toDouble()
        }
        buffer.add(fb)
        for ((k, v) in attributes) attributeAffinity[k] = (attributeAffinity[k] ?: 0.0) + target * v
        nEvents++
        refit()
        return fb
    }

    private fun refit() {
        val n = buffer.size
        if (n == 0) {
            w = prior.copyOf()
            return
        }
        // K = E E^T + ridge I (symmetric positive definite) -> Cholesky; rhs = y - E w0
        val k = Array(n) { DoubleArray(n) }
        val rhs = DoubleArray(n)
        for (i in 0 until n) {
            val ei = buffer[i].embedding
            for (j in 0..i) {
                val ej = buffer[j].embedding
                var s = 0.0
                for (d in 0 until dim) s += ei[d].toDouble() * ej[d].toDouble()
                k[i][j] = s
                k[j][i] = s
            }
            k[i][i] += ridge
            var p = 0.0
            for (d in 0 until dim) p += ei[d].toDouble() * prior[d]
            rhs[i] = buffer[i].target - p
        }
        val alpha = choleskySolve(k, rhs)
        val out = prior.copyOf()
        for (i in 0 until n) {
            val ei = buffer[i].embedding
            for (d in 0 until dim) out[d] += ei[d].toDouble() * alpha[i]
        }
        w = out
    }

    /** The learned preference vector `w` (zeros before any feedback), float32 as in the Python SDK. */
    val preference: FloatArray get() = FloatArray(dim) { w[it].toFloat() }

    val isEmpty: Boolean get() = w.all { it == 0.0 }

    /** Predicted liking of one embedding (higher = better; about -1..1). */
    fun score(embedding: FloatArray): Float {
        if (embedding.size != dim) throw InvalidTypeException("embeddings", "shape (${embedding.size},)", "[N, $dim]")
        var s = 0.0
        for (d in 0 until dim) s += embedding[d].toDouble() * w[d]
        return s.toFloat()
    }

    /** The flavour attributes this user liked most (positive affinity), strongest first. */
    fun topAttributes(k: Int = 5): List<Pair<String, Double>> =
        attributeAffinity.entries.filter { it.value > 0 }.map { Pair(it.key, it.value) }
            .sortedWith(Comparator { a, b -> if (a.second != b.second) b.second.compareTo(a.second) else a.first.compareTo(b.first) })
            .take(k)

    /** `(itemId, embedding)` of buffered events with a positive target and an id. */
    fun likedItems(): List<Pair<String, FloatArray>> =
        buffer.filter { it.target > 0 && it.itemId != null }.map { Pair(it.itemId!!, it.embedding) }

    companion object {
        const val RATING_MIN = 1.0
        const val RATING_MAX = 5.0

        internal fun choleskySolve(a: Array<DoubleArray>, b: DoubleArray): DoubleArray {
            val n = b.size
            val l = Array(n) { DoubleArray(n) }
            for (i in 0 until n) {
                for (j in 0..i) {
                    var s = a[i][j]
                    for (p in 0 until j) s -= l[i][p] * l[j][p]
                    if (i == j) {
                        if (s <= 0) throw ProfileException("feedback system is not positive definite")
                        l[i][i] = Math.sqrt(s)
                    } else {
                        l[i][j] = s / l[j][j]
                    }
                }
            }
            val y = DoubleArray(n)
            for (i in 0 until n) {
                var s = b[i]
                for (p in 0 until i) s -= l[i][p] * y[p]
                y[i] = s / l[i][i]
            }
            val x = DoubleArray(n)
            for (i in n - 1 downTo 0) {
                var s = y[i]
                for (p in i + 1 until n) s -= l[p][i] * x[p]
                x[i] = s / l[i][i]
            }
            return x
        }
    }
}
