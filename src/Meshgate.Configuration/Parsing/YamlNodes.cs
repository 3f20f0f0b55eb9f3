using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Meshgate.Configuration.Parsing;

/// <summary>
/// JSON to YAML nodes and YAML nodes to text: the admin API's request bodies are JSON, read by the same
/// <see cref="ConfigReader"/> as files, and its writes are saved as YAML.
/// </summary>
public static class YamlNodes
{
    public static YamlNode FromJson(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return new YamlScalarNode("null") { Style = ScalarStyle.Plain };
            case JsonObject obj:
            {
                var mapping = new YamlMappingNode();
                foreach (var (key, value) in obj) mapping.Add(new YamlScalarNode(key), FromJson(value));
                return mapping;
            }
            case JsonArray array:
            {
                var sequence = new YamlSequenceNode();
                foreach (var item in array) sequence.Add(FromJson(item));
                return sequence;
            }
            default:
                if (node.GetValueKind() == JsonValueKind.String)
                {
                    var text = node.GetValue<string>();
                    return new YamlScalarNode(text) { Style = NeedsQuotes(text) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };
                }
                // Numbers, true, false: their JSON text is the YAML scalar.
                return new YamlScalarNode(node.ToJsonString()) { Style = ScalarStyle.Plain };
        }
    }

    /// <summary>Block-style YAML of the node, one document, no anchors.</summary>
    public static string ToText(YamlNode root)
    {
        var writer = new StringWriter { NewLine = "\n" };
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        var text = writer.ToString();
        // YamlStream ends the document with an explicit "..." marker, which a config file does not need.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    /// <summary>
    /// A string as a double-quoted YAML scalar, for configs written as text (the sidecar's, the mesh demo's): its JSON
    /// form, which YAML reads back as the same string whatever it holds.
    /// </summary>
    public static string Quoted(string value) => $"\"{JsonEncodedText.Encode(value).Value}\"";

    /// <summary>Strings the reader would take for YAML's null when written plain.</summary>
    private static bool NeedsQuotes(string value) => value is "" or "~" || value.Equals("null", StringComparison.OrdinalIgnoreCase);
}
