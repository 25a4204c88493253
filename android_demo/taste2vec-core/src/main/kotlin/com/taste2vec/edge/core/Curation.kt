package com.taste2vec.edge.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Base64

/** A catalog file is malformed, or does not fit the profile / model it is used with. */
class CatalogException(message: String) : Taste2VecException(message) {
    override val errorType: String get() = "CatalogError"
}

/** One coffee of a catalog; [attributes] are flavour attribute paths -> weight. */
class CatalogItem(val id: String, val name: String, val roaster: String = "", val origin: String = "",
                  val roast: String = "", val rating: Double? = null, val attributes: Map<String, Double> = emptyMap())

/** Embedding maths shared by the SDKs. */
object Embeddings {
    /** Cosine similarity of two vectors of the same size (MediaPipe-style static helper). */
    @JvmStatic
    fun cosineSimilarity(u: FloatArray, v: FloatArray): Double {
        if (u.size != v.size) throw IllegalArgumentException("embeddings have different sizes: ${u.size} and ${v.size}")
        var dot = 0.0
        var nu = 0.0
        var nv = 0.0
        for (i in u.indices) {
            dot += u[i].toDouble() * v[i].toDouble()
            nu += u[i].toDouble() * u[i].toDouble()
            nv += v[i].toDouble() * v[i].toDouble()
        }
        if (nu == 0.0 || nv == 0.0) throw IllegalArgumentException("cannot compute cosine similarity with a zero vector")
        return dot / (Math.sqrt(nu) * Math.sqrt(nv))
    }

    internal fun dot(u: FloatArray, v: FloatArray): Double {
        var s = 0.0
        for (i in u.indices) s += u[i].toDouble() * v[i].toDouble()
        return s
    }
}

/**
 * Coffees and their unit embeddings from one model version (`taste2vec.catalog/1`, the Python SDK's
 * `taste2vec.curation.Catalog`; embeddings are base64 float32 little-endian).
 */
class Catalog(val items: List<CatalogItem>, embeddings: List<FloatArray>, val modelVersion: String,
              val description: String = "") {
    val embeddings: List<FloatArray>
    private val index = HashMap<String, Int>()

    init {
        if (embeddings.size != items.size) throw CatalogException("catalog has ${items.size} items but ${embeddings.size} embeddings")
        items.forEachIndexed { i, it -> if (index.put(it.id, i) != null) throw CatalogException("catalog item ids are not unique") }
        this.embeddings = embeddings.map { e ->
            if (e.any { it.isNaN() || it.isInfinite() }) throw CatalogException("catalog embeddings have NaN or infinite values")
            val n = Math.sqrt(Embeddings.dot(e, e))
            if (n == 0.0) throw CatalogException("catalog has a zero embedding")
            if (Math.abs(n - 1.0) > 1e-5) FloatArray(e.size) { (e[it] / n).toFloat() } else e
        }
    }

    val size: Int get() = items.size
    val dim: Int get() = if (embeddings.isEmpty()) 0 else embeddings[0].size

    operator fun contains(id: String): Boolean = index.containsKey(id)

    fun item(id: String): CatalogItem = items[index[id] ?: throw NoSuchElementException("no catalog item '$id'")]

    fun embedding(id: String): FloatArray = embeddings[index[id] ?: throw NoSuchElementException("no catalog item '$id'")]

    /** The [k] items most cosine-similar to [vector] (ties keep catalog order). */
    fun similar(vector: FloatArray, k: Int = 5, exclude: Set<String> = emptySet()): List<Pair<CatalogItem, Double>> {
        if (vector.size != dim || vector.any { it.isNaN() || it.isInfinite() } || vector.all { it == 0f }) {
            throw CatalogException("query must be a finite non-zero vector of $dim numbers")
        }
        val n = Math.sqrt(Embeddings.dot(vector, vector))
        val sims = embeddings.map { Embeddings.dot(it, vector) / n }
        return items.indices.filter { items[it].id !in exclude }.sortedWith(Comparator { a, b -> sims[b].compareTo(sims[a]) })
            .take(k).map { Pair(items[it], sims[it]) }
    }

    companion object {
        const val FORMAT = "taste2vec.catalog/1"

        @JvmStatic
        fun parse(text: String): Catalog {
            val d = try { Json.parse(text).obj("catalog") } catch (e: JsonException) { throw CatalogException("malformed catalog: ${e.message}") }
            if (d["format"] != FORMAT) throw CatalogException("not a catalog (format '${d["format"]}', expected $FORMAT)")
            try {
                val items = d["items"].list("items").map {
                    val i = it.obj("item")
                    val attrs = LinkedHashMap<String, Double>()
                    (i["attributes"] as? Map<*, *>)?.forEach { (k, v) -> attrs[k.toString()] = v.num("attribute weight") }
                    CatalogItem(i["id"].str("id"), i["name"].str("name"), (i["roaster"] as? String) ?: "",
                                (i["origin"] as? String) ?: "", (i["roast"] as? String) ?: "", i["rating"] as? Double, attrs)
                }
                val e = d["embeddings"].obj("embeddings")
                if (e["dtype"] != "float32-le") throw CatalogException("malformed catalog: embedding dtype '${e["dtype"]}'")
                val shape = e["shape"].list("shape").map { it.int("shape") }
                val buf = ByteBuffer.wrap(Base64.getDecoder().decode(e["base64"].str("base64"))).order(ByteOrder.LITTLE_ENDIAN)
                if (shape.size != 2 || buf.remaining() != shape[0] * shape[1] * 4) throw CatalogException("malformed catalog: embeddings do not have shape $shape")
                val rows = List(shape[0]) { FloatArray(shape[1]) { buf.float } }
                return Catalog(items, rows, d["model"].str("model"), (d["description"] as? String) ?: "")
            } catch (e: JsonException) {
                throw CatalogException("malformed catalog: ${e.message}")
            } catch (e: IllegalArgumentException) {
                throw CatalogException("malformed catalog: ${e.message}")
            }
        }
    }
}

/** A pick: the item, its predicted liking, and why. */
class Recommendation(val item: CatalogItem, val score: Double, val because: List<String>, val similarTo: String?,
                     val explanation: String)

/**
 * The Python SDK's `taste2vec.curation.recommend`: the [k] catalog coffees the profile should like most, ids in
 * [exclude] skipped. [diversity] > 0 re-ranks with maximal marginal relevance: each next pick maximizes
 * `(1 - diversity) * relevance - diversity * max cosine to the picks so far`, relevance scaled to [0, 1].
 */
object Curation {
    @JvmStatic
    @JvmOverloads
    fun recommend(profile: TasteProfile, catalog: Catalog, k: Int = 5, exclude: Set<String> = emptySet(),
                  diversity: Double = 0.0): List<Recommendation> {
        if (k < 1) throw OutOfRangeException("k", "got $k", "an integer >= 1", k)
        if (!(diversity >= 0.0 && diversity <= 1.0)) throw OutOfRangeException("diversity", "got $diversity", "a number in [0, 1]", diversity)
        if (profile.modelVersion != null && profile.modelVersion != catalog.modelVersion) {
            throw CatalogException("the profile holds ${profile.modelVersion} vectors but the catalog was embedded with " +
                                   "${catalog.modelVersion}; re-embed the catalog with the profile's model")
        }
        if (profile.dim != catalog.dim) throw CatalogException("profile dim ${profile.dim} != catalog dim ${catalog.dim}")
        val cand = catalog.items.indices.filter { catalog.items[it].id !in exclude }
        if (cand.isEmpty()) return emptyList()
        val rel = DoubleArray(cand.size) { profile.score(catalog.embeddings[cand[it]]).toDouble() }
        val picks = ArrayList<Int>()
        if (diversity == 0.0) {
            picks.addAll(cand.indices.sortedWith(Comparator { a, b -> rel[b].compareTo(rel[a]) }).take(k))
        } else {
            var lo = rel[0]
            var hi = rel[0]
            for (r in rel) {
                lo = Math.min(lo, r)
                hi = Math.max(hi, r)
            }
            val span = hi - lo
            val scaled = DoubleArray(rel.size) { if (span > 0) (rel[it] - lo) / span else 0.0 }
            val maxSim = DoubleArray(cand.size) { Double.NEGATIVE_INFINITY }
            val chosen = BooleanArray(cand.size)
            repeat(Math.min(k, cand.size)) {
                var best = -1
                var bestVal = Double.NEGATIVE_INFINITY
                for (j in cand.indices) {
                    val red = if (maxSim[j].isInfinite()) 0.0 else maxSim[j]
                    val mmr = if (chosen[j]) Double.NEGATIVE_INFINITY else (1 - diversity) * scaled[j] - diversity * red
                    if (best < 0 || mmr > bestVal) {
                        best = j
                        bestVal = mmr
                    }
                }
                picks.add(best)
                chosen[best] = true
                val eb = catalog.embeddings[cand[best]]
                for (j in cand.indices) maxSim[j] = Math.max(maxSim[j], Embeddings.dot(catalog.embeddings[cand[j]], eb))
            }
        }
        return picks.map { j ->
            val idx = cand[j]
            explain(catalog.items[idx], profile, catalog.embeddings[idx], catalog, rel[j])
        }
    }

    private fun leaf(path: String): String = path.split(" > ").last()

    private fun explain(item: CatalogItem, profile: TasteProfile, emb: FloatArray, catalog: Catalog,
                        score: Double, n: Int = 3): Recommendation {
        val aff = profile.attributeAffinity
        val byWeight = Comparator<Pair<String, Double>> { a, b ->
            if (a.second != b.second) b.second.compareTo(a.second) else a.first.compareTo(b.first)
        }
        val because = item.attributes.entries.filter { (aff[it.key] ?: 0.0) > 0 && it.value > 0 }
            .map { Pair(it.key, aff.getValue(it.key) * it.value) }.sortedWith(byWeight).take(n).map { it.first }
        val liked = profile.likedItems().filter { it.first != item.id }
        var similar: String? = null
        var best = Double.NEGATIVE_INFINITY
        for ((id, e) in liked) {
            val s = Embeddings.dot(e, emb)
            if (similar == null || s > best) {
                similar = id
                best = s
            }
        }
        val parts = ArrayList<String>()
        if (because.isNotEmpty()) parts.add("matches flavours you liked: " + because.joinToString(", ") { leaf(it) })
        if (similar != null) {
            val name = if (similar in catalog) catalog.item(similar).name else similar
            parts.add("close to $name, which you liked")
        }
        if (parts.isEmpty()) {
            val top = item.attributes.entries.map { Pair(it.key, it.value) }.sortedWith(byWeight).take(n)
                .joinToString(", ") { leaf(it.first) }
            parts.add((if (profile.isEmpty) "no feedback to match yet; its profile: " else "predicted from your ratings; its profile: ") + top)
        }
        return Recommendation(item, score, because, similar, parts.joinToString("; "))
    }
}
