"""Which parts of a Media, Media2 or PTZ message are tokens, and rewriting them in place."""
from __future__ import annotations

from lxml import etree

from gateway.onvif import token_fields

PROFILE = b"""<tr2:GetProfilesResponse xmlns:tr2="http://www.onvif.org/ver20/media/wsdl"
    xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:x="urn:vendor">
  <tr2:Profiles token="Profile_1" fixed="true"><tr2:Name>main</tr2:Name>
    <tr2:Configurations>
      <tr2:VideoSource token="VSC_1"><tt:Name>vs</tt:Name><tt:UseCount>2</tt:UseCount>
        <tt:SourceToken>VS_1</tt:SourceToken><tt:Bounds x="0" y="0" width="320" height="240"/></tr2:VideoSource>
      <tr2:PTZ token="PTZC_1"><tt:Name>ptz</tt:Name><tt:NodeToken> Node_1 </tt:NodeToken></tr2:PTZ>
      <x:Extra><x:OtherToken>O_1</x:OtherToken><!-- comment --></x:Extra>
    </tr2:Configurations>
  </tr2:Profiles>
</tr2:GetProfilesResponse>"""


def test_every_reference_is_found_in_document_order_and_whitespace_is_not_part_of_it() -> None:
    root = etree.fromstring(PROFILE)
    found = list(token_fields.sites(root))
    assert [(s.name, s.value) for s in found] == [
        ("Profiles@token", "Profile_1"), ("VideoSource@token", "VSC_1"), ("SourceToken", "VS_1"),
        ("PTZ@token", "PTZC_1"), ("NodeToken", "Node_1"), ("OtherToken", "O_1")]


def test_rewriting_changes_only_the_tokens() -> None:
    root = etree.fromstring(PROFILE)
    before = etree.tostring(root)
    token_fields.rewrite(list(token_fields.sites(root)), lambda t: f"zz9:{t}")
    after = etree.tostring(root)
    assert after.replace(b"zz9:", b"").replace(b"> Node_1 <", b">Node_1<") == before.replace(b"> Node_1 <", b">Node_1<")
    assert [s.value for s in token_fields.sites(root)][:2] == ["zz9:Profile_1", "zz9:VSC_1"]


def test_preset_tokens_are_profile_scoped_and_stay() -> None:
    root = etree.fromstring(b"""<tptz:GetPresetsResponse xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl">
      <tptz:Preset token="1"><tptz:Name>door</tptz:Name></tptz:Preset></tptz:GetPresetsResponse>""")
    assert list(token_fields.sites(root)) == []
    request = etree.fromstring(b"""<tptz:GotoPreset xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl">
      <tptz:ProfileToken>p:P</tptz:ProfileToken><tptz:PresetToken>1</tptz:PresetToken></tptz:GotoPreset>""")
    assert [s.name for s in token_fields.sites(request)] == ["ProfileToken"]


def test_empty_tokens_and_elements_with_children_are_not_tokens() -> None:
    root = etree.fromstring(b"""<a token=" "><ProfileToken/><SomeToken><b/></SomeToken></a>""")
    assert list(token_fields.sites(root)) == []


def test_unknown_tokens_get_the_subcode_a_device_gives() -> None:
    def sub(name: str) -> str:
        return etree.QName(token_fields.unknown_token(name, "x").subcodes[-1]).localname
    assert [sub(n) for n in ("ProfileToken", "Token", "ConfigurationToken", "NodeToken", "OSDToken")] == \
        ["NoProfile", "NoProfile", "NoConfig", "NoEntity", "NoToken"]
