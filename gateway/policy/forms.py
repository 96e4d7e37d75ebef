"""Forms for one setting at one level, used by the admin. The value is typed
as text and checked by the setting's definition through the service, so the
admin accepts exactly what the API and the commands accept."""

from django import forms

from gateway.models import Setting

from . import service
from .definitions import DEFINITIONS


class SettingForm(forms.ModelForm):
    # A blank first choice, so that the admin's empty extra row stays unchanged and is skipped.
    key = forms.ChoiceField(choices=[("", "---------")] + [(key, key) for key in sorted(DEFINITIONS)])
    value = forms.CharField(
        required=False,
        help_text="true or false, one of the setting's choices, or text. Leave the row out to inherit.",
    )

    class Meta:
        model = Setting
        fields = ["key", "value"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["value"] = service.format_value(self.instance.value)

    def clean(self):
        cleaned = super().clean()
        key = cleaned.get("key")
        if key:
            try:
                cleaned["value"] = service.clean_value(key, cleaned.get("value", ""))
            except service.SettingError as error:
                self.add_error("value", str(error))
        return cleaned


class AnyLevelSettingForm(SettingForm):
    """A setting at any level: neither domain nor user means global."""

    class Meta(SettingForm.Meta):
        fields = ["key", "value", "domain", "user"]
        help_texts = {"domain": "Leave domain and user empty for a global setting."}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("domain") and cleaned.get("user"):
            raise forms.ValidationError("A setting belongs to a domain or to a user, not both.")
        return cleaned


class SettingFormSet(forms.BaseInlineFormSet):
    """Each key at most once per domain or user."""

    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            key = form.cleaned_data.get("key")
            if key in seen:
                raise forms.ValidationError(f"{key} is set twice; keep one row.")
            seen.add(key)
