from django import forms
from django.utils.translation import gettext_lazy as _


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_code(self):
        return "".join(self.cleaned_data["code"].split())


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Any number of files, at most LOCKPOST_REPLY_MAX_BYTES together."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = [super(AttachmentsField, self).clean(f, initial) for f in (data or []) if f]
        from django.conf import settings

        if sum(f.size for f in files) > settings.LOCKPOST_REPLY_MAX_BYTES:
            limit = settings.LOCKPOST_REPLY_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(
                _("The attachments are too large together (at most %(mb)s MB).") % {"mb": limit}
            )
        return files


class ReplyForm(forms.Form):
    text = forms.CharField(label=_("Your message"), widget=forms.Textarea(attrs={"rows": 10}), max_length=100_000)
    attachments = AttachmentsField(label=_("Attachments"), required=False)

    def attachment_pairs(self):
        return [(f.name, f.read()) for f in self.cleaned_data["attachments"]]


class ComposeForm(ReplyForm):
    """A new message from the secure inbox: to one of the senders who wrote
    to this recipient (the choices), never to a typed address."""

    to = forms.ChoiceField(label=_("To"))
    subject = forms.CharField(label=_("Subject"), max_length=200)

    field_order = ["to", "subject", "text", "attachments"]

    def __init__(self, *args, senders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = [(s, s) for s in senders]
