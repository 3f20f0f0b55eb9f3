using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Parsing;

/// <summary>
/// A definition as config-file YAML, for stores that persist what the admin API writes. The text reads back into an
/// equal definition; comments and the previous file's layout are not kept, and keys left at their default are left out.
/// </summary>
public static class ConfigWriter
{
    public const string Header = "# Written by the Meshgate admin API. Comments and formatting of the previous file are not kept.\n";

    public static string Write(MeshgateDefinition definition) =>
        Header + YamlNodes.ToText(YamlNodes.FromJson(DefinitionJson.ToStoredJson(definition)));
}
