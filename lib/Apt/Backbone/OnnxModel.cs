using System.Text;

namespace Apt.Backbone;

/// <summary>A float32 initializer of an ONNX graph: its name, shape and values.</summary>
public sealed record OnnxTensor(string Name, long[] Shape, float[] Values);

/// <summary>One node of an ONNX graph: operator, input and output value names.</summary>
public sealed record OnnxNode(string OpType, string Name, string[] Inputs, string[] Outputs);

/// <summary>
/// The parts of an ONNX model that weight loading needs: the graph's float initializers and its
/// nodes. A small reader of the protobuf wire format (ModelProto → GraphProto → NodeProto,
/// TensorProto), so the library needs no protobuf dependency. Constant nodes holding a float tensor
/// are returned as initializers too, since exporters put some weights there.
/// </summary>
public sealed class OnnxModel
{
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }
    public IReadOnlyList<OnnxNode> Nodes { get; }

    OnnxModel(Dictionary<string, OnnxTensor> initializers, List<OnnxNode> nodes)
    {
        Initializers = initializers;
        Nodes = nodes;
    }

    /// <summary>Parses a serialized ModelProto; <paramref name="source"/> names it in errors.</summary>
    public static OnnxModel Parse(byte[] bytes, string source)
    {
        try
        {
            var model = new WireReader(bytes, 0, bytes.Length);
            while (model.Next(out int field, out int wire))
            {
                if (field == 7 && wire == 2) return ParseGraph(model.Message());
                model.Skip(wire);
            }
            throw new InvalidDataException("the model has no graph (ModelProto field 7)");
        }
        catch (Exception e) when (e is InvalidDataException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            throw new InvalidDataException($"{source}: not a readable ONNX model: {e.Message}", e);
        }
    }

    static OnnxModel ParseGraph(WireReader graph)
    {
        var initializers = new Dictionary<string, OnnxTensor>();
        var nodes = new List<OnnxNode>();
        while (graph.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2)
            {
                var (node, constant) = ParseNode(graph.Message());
                nodes.Add(node);
                if (constant is not null) initializers[node.Outputs[0]] = constant with { Name = node.Outputs[0] };
            }
            else if (field == 5 && wire == 2)
            {
                var tensor = ParseTensor(graph.Message());
                if (tensor is not null) initializers[tensor.Name] = tensor;
            }
            else graph.Skip(wire);
        }
        return new OnnxModel(initializers, nodes);
    }

    static (OnnxNode Node, OnnxTensor? Constant) ParseNode(WireReader node)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", op = "";
        OnnxTensor? constant = null;
        while (node.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: inputs.Add(node.String()); break;
                case 2 when wire == 2: outputs.Add(node.String()); break;
                case 3 when wire == 2: name = node.String(); break;
                case 4 when wire == 2: op = node.String(); break;
                case 5 when wire == 2: constant ??= ParseTensorAttribute(node.Message()); break;
                default: node.Skip(wire); break;
            }
        }
        return (new OnnxNode(op, name, [.. inputs], [.. outputs]), op == "Constant" ? constant : null);
    }

    /// <summary>AttributeProto: field 5 holds a TensorProto (the value of a Constant node).</summary>
    static OnnxTensor? ParseTensorAttribute(WireReader attribute)
    {
        OnnxTensor? tensor = null;
        while (attribute.Next(out int field, out int wire))
        {
            if (field == 5 && wire == 2) tensor = ParseTensor(attribute.Message());
            else attribute.Skip(wire);
        }
        return tensor;
    }

    /// <summary>TensorProto; null unless it is float32 (data type 1).</summary>
    static OnnxTensor? ParseTensor(WireReader tensor)
    {
        var dims = new List<long>();
        var floats = new List<float>();
        byte[]? raw = null;
        int dataType = 0;
        string name = "";
        while (tensor.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 0: dims.Add((long)tensor.Varint()); break;
                case 1 when wire == 2: tensor.PackedVarints(v => dims.Add((long)v)); break;
                case 2 when wire == 0: dataType = (int)tensor.Varint(); break;
                case 4 when wire == 2: tensor.PackedFloats(floats); break;
                case 4 when wire == 5: floats.Add(tensor.Float()); break;
                case 8 when wire == 2: name = tensor.String(); break;
                case 9 when wire == 2: raw = tensor.Bytes(); break;
                default: tensor.Skip(wire); break;
            }
        }
        if (dataType != 1) return null;
        float[] values = raw is null ? [.. floats] : new float[raw.Length / 4];
        if (raw is not null) Buffer.BlockCopy(raw, 0, values, 0, raw.Length);
        long expected = dims.Aggregate(1L, (a, b) => a * b);
        if (values.Length != expected)
            throw new InvalidDataException($"initializer '{name}' has {values.Length} values for shape [{string.Join(", ", dims)}]");
        return new OnnxTensor(name, [.. dims], values);
    }

    /// <summary>Protobuf wire-format cursor over a slice of a byte array.</summary>
    sealed class WireReader(byte[] bytes, int start, int end)
    {
        int _position = start;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_position >= end) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = bytes[_position++];
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new InvalidDataException($"malformed varint at byte {_position}");
        }

        int Length()
        {
            int length = checked((int)Varint());
            if (length < 0 || _position + length > end) throw new InvalidDataException($"length {length} at byte {_position} runs past the message");
            return length;
        }

        public WireReader Message()
        {
            int length = Length();
            var reader = new WireReader(bytes, _position, _position + length);
            _position += length;
            return reader;
        }

        public string String()
        {
            int length = Length();
            string text = Encoding.UTF8.GetString(bytes, _position, length);
            _position += length;
            return text;
        }

        public byte[] Bytes()
        {
            int length = Length();
            byte[] copy = bytes.AsSpan(_position, length).ToArray();
            _position += length;
            return copy;
        }

        public float Float()
        {
            float value = BitConverter.ToSingle(bytes, _position);
            _position += 4;
            return value;
        }

        public void PackedFloats(List<float> into)
        {
            int length = Length();
            for (int i = 0; i < length; i += 4) into.Add(BitConverter.ToSingle(bytes, _position + i));
            _position += length;
        }

        public void PackedVarints(Action<ulong> add)
        {
            int stop = _position + Length();
            while (_position < stop) add(Varint());
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: _position += 8; break;
                case 2: int length = Length(); _position += length; break;
                case 5: _position += 4; break;
                default: throw new InvalidDataException($"unsupported wire type {wire} at byte {_position}");
            }
        }
    }
}
