import MuseCore

/// The text encoder's prompt cache is MuseCore's `TextEmbeddingCache`, the one
/// text-embedding cache of the project (the training data loader uses the same
/// type, files and keys). This name is kept for the plugin's callers.
public typealias EmbeddingCache = TextEmbeddingCache
