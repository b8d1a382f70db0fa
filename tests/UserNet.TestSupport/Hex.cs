namespace UserNet.TestSupport;

/// <summary>Byte arrays written as hex dumps, the way a capture tool prints them.</summary>
public static class Hex
{
    /// <summary>Parses hex digits, ignoring whitespace, so a dump can be pasted line by line.</summary>
    public static byte[] Bytes(string dump)
    {
        var digits = new string(dump.Where(c => !char.IsWhiteSpace(c)).ToArray());
        return Convert.FromHexString(digits);
    }
}
